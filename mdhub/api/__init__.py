"""The HTTP API: one module per resource; handlers parse, call one service, shape the answer."""
