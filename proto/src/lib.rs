//! cairn-proto: placeholder until the generated etcd v3 API lands.
