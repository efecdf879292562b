"""flowstone's benchmarks: side-by-side timings, never timed unit tests."""
