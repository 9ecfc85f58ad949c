"""The ``senderid`` command line."""
