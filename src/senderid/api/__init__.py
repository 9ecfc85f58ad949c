"""The HTTP edge: thin routes that parse, call the domain, render."""
