//! `alloy::sol!` bindings generated from the committed artifacts in
//! `contracts/out` (compiled by `npm run build` in `contracts/`), so building
//! the crate needs no Node.js.
#![allow(missing_docs, unreachable_pub, clippy::too_many_arguments)]

use alloy::sol;

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    FogToken,
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../contracts/out/FogToken.json"
    )
);

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    Market,
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../contracts/out/Market.json"
    )
);

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    ProfileRegistry,
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../contracts/out/ProfileRegistry.json"
    )
);

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    Blacklist,
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../contracts/out/Blacklist.json"
    )
);

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    OracleUSD,
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../contracts/out/OracleUSD.json"
    )
);
