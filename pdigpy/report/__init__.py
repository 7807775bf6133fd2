"""End-of-run reports: the summary of fired rules (stderr) and JUnit XML for CI."""
