"""Hidden tests, one module per assignment topic; notebooks call them from their ``### BEGIN HIDDEN TESTS`` blocks."""
