//! Pulling images from OCI/Docker registries into the blob store (being written).
