//! Per-container networking: none, or NAT from a network namespace (being written).
