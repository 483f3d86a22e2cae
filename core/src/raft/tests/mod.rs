//! Unit tests that assert the exact actions of a step, citing the paper.
