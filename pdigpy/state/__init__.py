"""Thread and file-descriptor tables, fed by events, rebuilt the same way on replay."""
