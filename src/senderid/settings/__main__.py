"""``python -m senderid.settings > table.md``: print the README's configuration table."""

from senderid.settings import markdown_table

print(markdown_table())
