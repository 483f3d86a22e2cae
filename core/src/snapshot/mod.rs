//! Placeholder: filled by the storage-core work (issue 3).
