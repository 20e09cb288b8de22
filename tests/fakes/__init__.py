"""In-memory test doubles of every port (import as ``from fakes import ...``)."""
