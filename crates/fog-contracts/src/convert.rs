//! Conversions between ABI wire types and fog-primitives domain types.
