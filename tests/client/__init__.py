"""Tests of senderid.client, against live local HTTP servers."""
