"""Reports: the report model computed once, and the writers of every format."""
