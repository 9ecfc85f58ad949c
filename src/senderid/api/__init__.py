"""The HTTP edge: thin routes that parse, call the domain, render."""

from senderid.edge import register_convertors

register_convertors()  # before any router of this package is built: they use {id:objectid}
