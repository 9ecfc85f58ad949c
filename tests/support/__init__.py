"""What the tests share and are not tests: helpers, fake providers, live servers, peers."""
