//! GPUs passed into containers from device descriptions (being written).
