//! ProfileRegistry, Blacklist, OracleUSD, FogToken and the worker/master links, in a real EVM.
#![allow(
    missing_docs,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    dead_code
)]
#[path = "suite/backend.rs"]
mod backend;
#[path = "suite/harness.rs"]
mod harness;
use harness::*;

use alloy::{
    primitives::{Address, Bytes, U256},
    sol_types::{SolCall, SolConstructor},
};
use fog_contracts::{
    Revert,
    bindings::{
        Blacklist::{self, BlacklistErrors},
        FogToken::{self, FogTokenErrors},
        Market::{self, MarketErrors},
        OracleUSD::{self, OracleUSDErrors},
        ProfileRegistry::{self, ProfileRegistryErrors},
    },
    deploy::TOKEN,
    sim::{Outcome, SimError},
};

// ------------------------------------------------------------------ helpers

/// Short verbs for the calls these tests make. `SimError` is large, which the
/// helpers returning it do not mind.
#[allow(clippy::result_large_err)]
mod helpers {
    use super::*;

    pub fn initcode<C: SolConstructor>(bytecode: &Bytes, args: &C) -> Bytes {
        let mut code = bytecode.to_vec();
        code.extend(args.abi_encode());
        code.into()
    }

    pub fn tokens(n: u128) -> U256 {
        U256::from(n * TOKEN)
    }

    pub fn text(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    /// A call to the suite's profile registry.
    pub fn profiles<C: SolCall>(
        h: &mut H,
        from: Address,
        call: &C,
    ) -> Result<Outcome<C::Return>, SimError> {
        let to = h.a.profiles;
        h.sim.send(from, to, call)
    }

    pub fn profiles_view<C: SolCall>(h: &mut H, call: &C) -> C::Return {
        let to = h.a.profiles;
        h.sim.view(to, call).expect("profiles view")
    }

    pub fn create_cert(
        h: &mut H,
        issuer: Address,
        owner: Address,
        attribute: u32,
        value: &str,
    ) -> Result<Outcome<U256>, SimError> {
        profiles(
            h,
            issuer,
            &ProfileRegistry::createCertificateCall {
                owner,
                attribute,
                value: text(value),
            },
        )
    }

    pub fn create_cert_ok(
        h: &mut H,
        issuer: Address,
        owner: Address,
        attribute: u32,
        value: &str,
    ) -> U256 {
        create_cert(h, issuer, owner, attribute, value)
            .expect("createCertificate")
            .ret
    }

    pub fn remove_cert(h: &mut H, caller: Address, id: U256) -> Result<Outcome<()>, SimError> {
        profiles(h, caller, &ProfileRegistry::removeCertificateCall { id }).map(|o| Outcome {
            ret: (),
            gas_used: o.gas_used,
            logs: o.logs,
        })
    }

    pub fn attribute_count(h: &mut H, owner: Address, attribute: u32) -> U256 {
        profiles_view(
            h,
            &ProfileRegistry::attributeCountOfCall {
                owner,
                attribute: U256::from(attribute),
            },
        )
    }

    pub fn identity_level(h: &mut H, owner: Address) -> u8 {
        profiles_view(h, &ProfileRegistry::identityLevelCall { owner })
    }

    pub fn validator_level(h: &mut H, who: Address) -> u8 {
        profiles_view(h, &ProfileRegistry::validatorLevelCall(who))
    }

    pub fn set_validator(
        h: &mut H,
        from: Address,
        validator: Address,
        level: u8,
    ) -> Result<Outcome<()>, SimError> {
        profiles(
            h,
            from,
            &ProfileRegistry::setValidatorCall { validator, level },
        )
        .map(unit_outcome)
    }

    pub fn unit_outcome<T>(o: Outcome<T>) -> Outcome<()> {
        Outcome {
            ret: (),
            gas_used: o.gas_used,
            logs: o.logs,
        }
    }

    /// Deploys an OracleUSD of its own (not the suite's).
    pub fn deploy_oracle(
        h: &mut H,
        feeders: &[Address],
        threshold: u64,
        price: U256,
        min: U256,
        max: U256,
    ) -> Result<Address, SimError> {
        let args = OracleUSD::constructorCall {
            feeders_: feeders.to_vec(),
            threshold_: U256::from(threshold),
            initialPrice: price,
            minPrice_: min,
            maxPrice_: max,
        };
        h.sim
            .deploy(DEPLOYER, initcode(&OracleUSD::BYTECODE, &args))
    }

    pub const F1: Address = Address::repeat_byte(0xf1);
    pub const F2: Address = Address::repeat_byte(0xf2);
    pub const F3: Address = Address::repeat_byte(0xf3);
    pub const F4: Address = Address::repeat_byte(0xf4);

    /// A 2-of-3 oracle (F1, F2, F3) at 1 token per USD, bounds [0.001, 1000] tokens.
    pub fn oracle_2_of_3(h: &mut H) -> Address {
        deploy_oracle(
            h,
            &[F1, F2, F3],
            2,
            tokens(1),
            U256::from(TOKEN / 1000),
            tokens(1000),
        )
        .expect("deploy oracle")
    }

    pub fn propose_price(
        h: &mut H,
        oracle: Address,
        feeder: Address,
        price: U256,
    ) -> Result<Outcome<()>, SimError> {
        h.sim
            .send(
                feeder,
                oracle,
                &OracleUSD::proposePriceCall { newPrice: price },
            )
            .map(unit_outcome)
    }

    pub fn propose_feeders(
        h: &mut H,
        oracle: Address,
        feeder: Address,
        feeders: &[Address],
        threshold: u64,
    ) -> Result<Outcome<()>, SimError> {
        let call = OracleUSD::proposeFeedersCall {
            newFeeders: feeders.to_vec(),
            newThreshold: U256::from(threshold),
        };
        h.sim.send(feeder, oracle, &call).map(unit_outcome)
    }

    pub fn price_of(h: &mut H, oracle: Address) -> U256 {
        h.sim.view(oracle, &OracleUSD::priceCall {}).expect("price")
    }

    pub fn round_of(h: &mut H, oracle: Address) -> U256 {
        h.sim.view(oracle, &OracleUSD::roundCall {}).expect("round")
    }

    pub fn feeders_of(h: &mut H, oracle: Address) -> Vec<Address> {
        h.sim
            .view(oracle, &OracleUSD::feedersCall {})
            .expect("feeders")
    }

    pub fn threshold_of(h: &mut H, oracle: Address) -> U256 {
        h.sim
            .view(oracle, &OracleUSD::thresholdCall {})
            .expect("threshold")
    }

    pub fn blacklist_call<C: SolCall>(
        h: &mut H,
        from: Address,
        call: &C,
    ) -> Result<Outcome<C::Return>, SimError> {
        let to = h.a.blacklist;
        h.sim.send(from, to, call)
    }

    /// A Blacklist of its own, deployed by DEPLOYER and not wired yet.
    pub fn fresh_blacklist(h: &mut H) -> Address {
        h.sim
            .deploy(
                DEPLOYER,
                initcode(&Blacklist::BYTECODE, &Blacklist::constructorCall {}),
            )
            .expect("deploy blacklist")
    }

    pub fn deploy_token(h: &mut H, holder: Address, supply: U256) -> Result<Address, SimError> {
        let args = FogToken::constructorCall { holder, supply };
        h.sim.deploy(DEPLOYER, initcode(&FogToken::BYTECODE, &args))
    }

    pub fn master_of(h: &mut H, account: Address) -> Address {
        h.market_view(&Market::masterOfCall { account })
    }

    pub fn master_link(h: &mut H, worker: Address) -> Market::MasterLink {
        h.market_view(&Market::masterLinkCall { worker })
    }

    pub fn register_worker(
        h: &mut H,
        worker: Address,
        master: Address,
    ) -> Result<Outcome<()>, SimError> {
        h.market_call(worker, &Market::registerWorkerCall { master })
            .map(unit_outcome)
    }

    pub fn confirm_worker(
        h: &mut H,
        master: Address,
        worker: Address,
    ) -> Result<Outcome<()>, SimError> {
        h.market_call(master, &Market::confirmWorkerCall { worker })
            .map(unit_outcome)
    }

    pub fn remove_worker(
        h: &mut H,
        caller: Address,
        worker: Address,
        master: Address,
    ) -> Result<Outcome<()>, SimError> {
        h.market_call(caller, &Market::removeWorkerCall { worker, master })
            .map(unit_outcome)
    }
}
use helpers::*;

// ============================================================ ProfileRegistry

#[test]
fn admin_appoints_a_validator_with_a_level() {
    let mut h = H::new();
    let out = set_validator(&mut h, DEPLOYER, VALIDATOR, 3).unwrap();
    assert_eq!(validator_level(&mut h, VALIDATOR), 3);
    let ev = out.event::<ProfileRegistry::ValidatorSet>().unwrap();
    assert_eq!((ev.validator, ev.level), (VALIDATOR, 3));
}

#[test]
fn admin_removes_a_validator_by_setting_level_0() {
    let mut h = H::new();
    set_validator(&mut h, DEPLOYER, VALIDATOR, 3).unwrap();
    let out = set_validator(&mut h, DEPLOYER, VALIDATOR, 0).unwrap();
    assert_eq!(validator_level(&mut h, VALIDATOR), 0);
    let ev = out.event::<ProfileRegistry::ValidatorSet>().unwrap();
    assert_eq!((ev.validator, ev.level), (VALIDATOR, 0));
    let r = create_cert(&mut h, VALIDATOR, SUPPLIER, 1201, "kyc");
    assert!(matches!(
        revert(r),
        Revert::Profiles(ProfileRegistryErrors::ValidatorLevelTooLow(_))
    ));
}

#[test]
fn only_the_admin_sets_validators() {
    let mut h = H::new();
    let r = revert(set_validator(&mut h, STRANGER, STRANGER, 9));
    match &r {
        Revert::Profiles(ProfileRegistryErrors::NotAdmin(e)) => assert_eq!(e.caller, STRANGER),
        other => panic!("expected NotAdmin, got {other:?}"),
    }
    let msg = r.to_string();
    assert!(msg.starts_with("profiles: "), "{msg}");
    assert!(msg.contains("not the registry's admin"), "{msg}");
    assert_eq!(validator_level(&mut h, STRANGER), 0);
}

#[test]
fn validator_level_above_9_is_refused() {
    let mut h = H::new();
    let r = set_validator(&mut h, DEPLOYER, VALIDATOR, 10);
    match revert(r) {
        Revert::Profiles(ProfileRegistryErrors::InvalidValidatorLevel(e)) => {
            assert_eq!(e.level, 10)
        }
        other => panic!("expected InvalidValidatorLevel, got {other:?}"),
    }
    set_validator(&mut h, DEPLOYER, VALIDATOR, 9).unwrap();
    assert_eq!(validator_level(&mut h, VALIDATOR), 9);
}

#[test]
fn admin_handover_takes_effect_only_when_the_proposed_admin_accepts() {
    let mut h = H::new();
    let out = profiles(
        &mut h,
        DEPLOYER,
        &ProfileRegistry::proposeAdminCall { next: STRANGER },
    )
    .unwrap();
    let ev = out.event::<ProfileRegistry::AdminProposed>().unwrap();
    assert_eq!((ev.admin, ev.pendingAdmin), (DEPLOYER, STRANGER));
    assert_eq!(
        profiles_view(&mut h, &ProfileRegistry::adminCall {}),
        DEPLOYER
    );
    assert_eq!(
        profiles_view(&mut h, &ProfileRegistry::pendingAdminCall {}),
        STRANGER
    );
    // Still the old admin until accepted.
    set_validator(&mut h, DEPLOYER, VALIDATOR, 1).unwrap();
    assert!(set_validator(&mut h, STRANGER, VALIDATOR, 2).is_err());

    let out = profiles(&mut h, STRANGER, &ProfileRegistry::acceptAdminCall {}).unwrap();
    assert_eq!(
        out.event::<ProfileRegistry::AdminChanged>().unwrap().admin,
        STRANGER
    );
    assert_eq!(
        profiles_view(&mut h, &ProfileRegistry::adminCall {}),
        STRANGER
    );
    assert_eq!(
        profiles_view(&mut h, &ProfileRegistry::pendingAdminCall {}),
        Address::ZERO
    );
    set_validator(&mut h, STRANGER, VALIDATOR, 2).unwrap();
    assert_eq!(validator_level(&mut h, VALIDATOR), 2);
    assert!(matches!(
        revert(set_validator(&mut h, DEPLOYER, VALIDATOR, 3)),
        Revert::Profiles(ProfileRegistryErrors::NotAdmin(_))
    ));
}

#[test]
fn only_the_admin_proposes_a_new_admin() {
    let mut h = H::new();
    let r = profiles(
        &mut h,
        STRANGER,
        &ProfileRegistry::proposeAdminCall { next: STRANGER },
    );
    assert!(matches!(
        revert(r),
        Revert::Profiles(ProfileRegistryErrors::NotAdmin(_))
    ));
    assert_eq!(
        profiles_view(&mut h, &ProfileRegistry::pendingAdminCall {}),
        Address::ZERO
    );
}

#[test]
fn only_the_proposed_admin_may_accept() {
    let mut h = H::new();
    profiles(
        &mut h,
        DEPLOYER,
        &ProfileRegistry::proposeAdminCall { next: STRANGER },
    )
    .unwrap();
    let r = profiles(&mut h, CONSUMER, &ProfileRegistry::acceptAdminCall {});
    match revert(r) {
        Revert::Profiles(ProfileRegistryErrors::NotPendingAdmin(e)) => {
            assert_eq!(e.caller, CONSUMER)
        }
        other => panic!("expected NotPendingAdmin, got {other:?}"),
    }
    assert_eq!(
        profiles_view(&mut h, &ProfileRegistry::adminCall {}),
        DEPLOYER
    );
}

#[test]
fn accepting_with_no_handover_pending_is_refused() {
    let mut h = H::new();
    let r = profiles(&mut h, DEPLOYER, &ProfileRegistry::acceptAdminCall {});
    assert!(matches!(
        revert(r),
        Revert::Profiles(ProfileRegistryErrors::NotPendingAdmin(_))
    ));
}

#[test]
fn attribute_outside_1000_to_9999_is_refused() {
    let mut h = H::new();
    h.set_validator(VALIDATOR, 9);
    for attribute in [0, 999, 10_000, u32::MAX] {
        let r = create_cert(&mut h, VALIDATOR, SUPPLIER, attribute, "x");
        match revert(r) {
            Revert::Profiles(ProfileRegistryErrors::InvalidAttribute(e)) => {
                assert_eq!(e.attribute, U256::from(attribute));
            }
            other => panic!("attribute {attribute}: expected InvalidAttribute, got {other:?}"),
        }
    }
    // The range ends are valid.
    create_cert_ok(&mut h, SUPPLIER, SUPPLIER, 1000, "x");
    create_cert_ok(&mut h, VALIDATOR, SUPPLIER, 9999, "x");
}

#[test]
fn self_issued_attribute_below_1100_is_accepted_from_its_owner() {
    let mut h = H::new();
    let id = create_cert_ok(&mut h, SUPPLIER, SUPPLIER, 1001, "my host");
    assert_eq!(id, U256::from(1));
    assert_eq!(attribute_count(&mut h, SUPPLIER, 1001), U256::from(1));
    let c = profiles_view(&mut h, &ProfileRegistry::certificateCall { id });
    assert_eq!(
        (c.owner, c.validator, c.attribute),
        (SUPPLIER, SUPPLIER, 1001)
    );
    assert_eq!(c.value, text("my host"));
}

#[test]
fn self_issued_attribute_below_1100_is_refused_when_issued_by_another() {
    let mut h = H::new();
    h.set_validator(VALIDATOR, 9);
    let r = create_cert(&mut h, VALIDATOR, SUPPLIER, 1099, "x");
    match revert(r) {
        Revert::Profiles(ProfileRegistryErrors::NotSelfIssued(e)) => {
            assert_eq!(
                (e.issuer, e.owner, e.attribute),
                (VALIDATOR, SUPPLIER, U256::from(1099))
            );
        }
        other => panic!("expected NotSelfIssued, got {other:?}"),
    }
    assert_eq!(attribute_count(&mut h, SUPPLIER, 1099), U256::ZERO);
}

#[test]
fn validator_of_exactly_the_attribute_level_may_certify() {
    let mut h = H::new();
    h.set_validator(VALIDATOR, 3);
    create_cert_ok(&mut h, VALIDATOR, SUPPLIER, 1301, "kyc3");
    create_cert_ok(&mut h, VALIDATOR, SUPPLIER, 5399, "x");
    assert_eq!(attribute_count(&mut h, SUPPLIER, 1301), U256::from(1));
    assert_eq!(attribute_count(&mut h, SUPPLIER, 5399), U256::from(1));
}

#[test]
fn validator_above_the_attribute_level_may_certify() {
    let mut h = H::new();
    h.set_validator(VALIDATOR, 4);
    create_cert_ok(&mut h, VALIDATOR, SUPPLIER, 1102, "name");
    create_cert_ok(&mut h, VALIDATOR, SUPPLIER, 1201, "kyc2");
}

#[test]
fn validator_below_the_attribute_level_is_refused() {
    let mut h = H::new();
    h.set_validator(VALIDATOR, 2);
    let r = create_cert(&mut h, VALIDATOR, SUPPLIER, 1301, "kyc3");
    match revert(r) {
        Revert::Profiles(ProfileRegistryErrors::ValidatorLevelTooLow(e)) => {
            assert_eq!((e.issuer, e.level, e.required), (VALIDATOR, 2, 3));
        }
        other => panic!("expected ValidatorLevelTooLow, got {other:?}"),
    }
    // The level digit is the hundreds digit, also for higher thousands.
    let r = create_cert(&mut h, VALIDATOR, SUPPLIER, 7901, "x");
    match revert(r) {
        Revert::Profiles(ProfileRegistryErrors::ValidatorLevelTooLow(e)) => {
            assert_eq!(e.required, 9)
        }
        other => panic!("expected ValidatorLevelTooLow, got {other:?}"),
    }
}

#[test]
fn non_validator_cannot_certify_attributes_from_1100() {
    let mut h = H::new();
    // Not for somebody else, and not for itself either (no self-KYC).
    for (owner, attribute) in [
        (SUPPLIER, 1100),
        (STRANGER, 1102),
        (STRANGER, 1201),
        (STRANGER, 1401),
    ] {
        let r = create_cert(&mut h, STRANGER, owner, attribute, "x");
        match revert(r) {
            Revert::Profiles(ProfileRegistryErrors::ValidatorLevelTooLow(e)) => {
                assert_eq!((e.issuer, e.level), (STRANGER, 0));
            }
            other => panic!("attribute {attribute}: expected ValidatorLevelTooLow, got {other:?}"),
        }
    }
    assert_eq!(identity_level(&mut h, STRANGER), 1);
}

/// DESIGN.md: "Attribute types >= 1100 need a validator". Attributes whose
/// level digit is 0 (2000-2099, 3000-3099, ..., 9000-9099) require level >= 0,
/// which every account has, so anybody can attach them to anybody's profile.
#[test]
fn non_validator_cannot_certify_level_0_attributes_from_2000() {
    let mut h = H::new();
    for attribute in [2001, 3050, 9099] {
        let r = create_cert(&mut h, STRANGER, SUPPLIER, attribute, "spam");
        assert!(
            matches!(
                revert(r),
                Revert::Profiles(ProfileRegistryErrors::ValidatorLevelTooLow(_))
            ),
            "attribute {attribute}"
        );
    }
}

#[test]
fn empty_value_is_refused() {
    let mut h = H::new();
    h.set_validator(VALIDATOR, 9);
    let r = create_cert(&mut h, VALIDATOR, SUPPLIER, 1201, "");
    let r = revert(r);
    assert!(matches!(
        r,
        Revert::Profiles(ProfileRegistryErrors::EmptyValue(_))
    ));
    assert!(r.to_string().contains("may not be empty"), "{r}");
    // Self-issued and multi-valued attributes too.
    assert!(matches!(
        revert(create_cert(&mut h, SUPPLIER, SUPPLIER, 1001, "")),
        Revert::Profiles(ProfileRegistryErrors::EmptyValue(_))
    ));
    assert!(matches!(
        revert(create_cert(&mut h, VALIDATOR, SUPPLIER, 2202, "")),
        Revert::Profiles(ProfileRegistryErrors::EmptyValue(_))
    ));
}

#[test]
fn single_valued_attribute_accepts_the_same_value_again() {
    let mut h = H::new();
    h.set_validator(VALIDATOR, 3);
    h.set_validator(STRANGER, 5);
    create_cert_ok(&mut h, VALIDATOR, SUPPLIER, 1303, "NL");
    create_cert_ok(&mut h, STRANGER, SUPPLIER, 1303, "NL");
    assert_eq!(attribute_count(&mut h, SUPPLIER, 1303), U256::from(2));
}

#[test]
fn single_valued_attribute_refuses_a_different_value() {
    let mut h = H::new();
    h.set_validator(VALIDATOR, 3);
    create_cert_ok(&mut h, VALIDATOR, SUPPLIER, 1303, "NL");
    let r = create_cert(&mut h, VALIDATOR, SUPPLIER, 1303, "DE");
    match revert(r) {
        Revert::Profiles(ProfileRegistryErrors::ValueMismatch(e)) => {
            assert_eq!((e.owner, e.attribute), (SUPPLIER, U256::from(1303)));
        }
        other => panic!("expected ValueMismatch, got {other:?}"),
    }
    assert_eq!(attribute_count(&mut h, SUPPLIER, 1303), U256::from(1));
    // Self-issued attributes are single-valued too.
    create_cert_ok(&mut h, SUPPLIER, SUPPLIER, 1001, "a");
    assert!(matches!(
        revert(create_cert(&mut h, SUPPLIER, SUPPLIER, 1001, "b")),
        Revert::Profiles(ProfileRegistryErrors::ValueMismatch(_))
    ));
}

#[test]
fn single_value_is_per_owner() {
    let mut h = H::new();
    h.set_validator(VALIDATOR, 3);
    create_cert_ok(&mut h, VALIDATOR, SUPPLIER, 1303, "NL");
    create_cert_ok(&mut h, VALIDATOR, CONSUMER, 1303, "DE");
    assert_eq!(attribute_count(&mut h, CONSUMER, 1303), U256::from(1));
}

#[test]
fn multi_valued_attribute_accepts_different_values() {
    let mut h = H::new();
    h.set_validator(VALIDATOR, 2);
    create_cert_ok(&mut h, VALIDATOR, SUPPLIER, 2201, "+31 20 000 0000");
    create_cert_ok(&mut h, VALIDATOR, SUPPLIER, 2201, "+49 30 000 0000");
    create_cert_ok(&mut h, VALIDATOR, SUPPLIER, 2202, "a@example.org");
    create_cert_ok(&mut h, VALIDATOR, SUPPLIER, 2202, "b@example.org");
    assert_eq!(attribute_count(&mut h, SUPPLIER, 2201), U256::from(2));
    assert_eq!(attribute_count(&mut h, SUPPLIER, 2202), U256::from(2));
}

#[test]
fn owner_may_remove_a_certificate() {
    let mut h = H::new();
    h.set_validator(VALIDATOR, 3);
    let id = create_cert_ok(&mut h, VALIDATOR, SUPPLIER, 1303, "NL");
    remove_cert(&mut h, SUPPLIER, id).unwrap();
    assert_eq!(attribute_count(&mut h, SUPPLIER, 1303), U256::ZERO);
    let c = profiles_view(&mut h, &ProfileRegistry::certificateCall { id });
    assert_eq!(c.owner, Address::ZERO);
}

#[test]
fn issuer_may_remove_a_certificate() {
    let mut h = H::new();
    h.set_validator(VALIDATOR, 3);
    let id = create_cert_ok(&mut h, VALIDATOR, SUPPLIER, 1303, "NL");
    remove_cert(&mut h, VALIDATOR, id).unwrap();
    assert_eq!(attribute_count(&mut h, SUPPLIER, 1303), U256::ZERO);
}

#[test]
fn issuer_may_remove_its_certificate_even_after_losing_its_validator_level() {
    let mut h = H::new();
    h.set_validator(VALIDATOR, 3);
    let id = create_cert_ok(&mut h, VALIDATOR, SUPPLIER, 1301, "kyc3");
    h.set_validator(VALIDATOR, 0);
    remove_cert(&mut h, VALIDATOR, id).unwrap();
    assert_eq!(identity_level(&mut h, SUPPLIER), 1);
}

#[test]
fn stranger_may_not_remove_a_certificate() {
    let mut h = H::new();
    h.set_validator(VALIDATOR, 3);
    let id = create_cert_ok(&mut h, VALIDATOR, SUPPLIER, 1303, "NL");
    let r = remove_cert(&mut h, STRANGER, id);
    match revert(r) {
        Revert::Profiles(ProfileRegistryErrors::NotCertificateParty(e)) => {
            assert_eq!((e.caller, e.id), (STRANGER, id));
        }
        other => panic!("expected NotCertificateParty, got {other:?}"),
    }
    assert_eq!(attribute_count(&mut h, SUPPLIER, 1303), U256::from(1));
}

#[test]
fn admin_may_not_remove_a_certificate() {
    let mut h = H::new();
    h.set_validator(VALIDATOR, 3);
    let id = create_cert_ok(&mut h, VALIDATOR, SUPPLIER, 1301, "kyc3");
    assert!(matches!(
        revert(remove_cert(&mut h, DEPLOYER, id)),
        Revert::Profiles(ProfileRegistryErrors::NotCertificateParty(_))
    ));
    assert_eq!(identity_level(&mut h, SUPPLIER), 3);
}

#[test]
fn removing_a_missing_certificate_is_refused() {
    let mut h = H::new();
    let r = remove_cert(&mut h, SUPPLIER, U256::from(1));
    match revert(r) {
        Revert::Profiles(ProfileRegistryErrors::NoSuchCertificate(e)) => {
            assert_eq!(e.id, U256::from(1))
        }
        other => panic!("expected NoSuchCertificate, got {other:?}"),
    }
}

#[test]
fn removing_a_certificate_twice_is_refused() {
    let mut h = H::new();
    let id = create_cert_ok(&mut h, SUPPLIER, SUPPLIER, 1001, "x");
    remove_cert(&mut h, SUPPLIER, id).unwrap();
    assert!(matches!(
        revert(remove_cert(&mut h, SUPPLIER, id)),
        Revert::Profiles(ProfileRegistryErrors::NoSuchCertificate(_))
    ));
}

#[test]
fn after_removing_the_last_certificate_a_different_single_value_is_accepted() {
    let mut h = H::new();
    h.set_validator(VALIDATOR, 3);
    let a = create_cert_ok(&mut h, VALIDATOR, SUPPLIER, 1303, "NL");
    let b = create_cert_ok(&mut h, VALIDATOR, SUPPLIER, 1303, "NL");
    remove_cert(&mut h, SUPPLIER, a).unwrap();
    remove_cert(&mut h, SUPPLIER, b).unwrap();
    create_cert_ok(&mut h, VALIDATOR, SUPPLIER, 1303, "DE");
    assert_eq!(attribute_count(&mut h, SUPPLIER, 1303), U256::from(1));
}

#[test]
fn while_a_certificate_remains_the_single_value_stays_fixed() {
    let mut h = H::new();
    h.set_validator(VALIDATOR, 3);
    let a = create_cert_ok(&mut h, VALIDATOR, SUPPLIER, 1303, "NL");
    create_cert_ok(&mut h, VALIDATOR, SUPPLIER, 1303, "NL");
    remove_cert(&mut h, SUPPLIER, a).unwrap();
    assert_eq!(attribute_count(&mut h, SUPPLIER, 1303), U256::from(1));
    assert!(matches!(
        revert(create_cert(&mut h, VALIDATOR, SUPPLIER, 1303, "DE")),
        Revert::Profiles(ProfileRegistryErrors::ValueMismatch(_))
    ));
}

#[test]
fn certificate_ids_start_at_1_and_count_up() {
    let mut h = H::new();
    let a = create_cert_ok(&mut h, SUPPLIER, SUPPLIER, 1001, "x");
    let b = create_cert_ok(&mut h, CONSUMER, CONSUMER, 1001, "y");
    remove_cert(&mut h, SUPPLIER, a).unwrap();
    let c = create_cert_ok(&mut h, SUPPLIER, SUPPLIER, 1001, "x");
    assert_eq!((a, b, c), (U256::from(1), U256::from(2), U256::from(3)));
    assert_eq!(
        profiles_view(&mut h, &ProfileRegistry::certificateCountCall {}),
        U256::from(3)
    );
}

#[test]
fn identity_level_is_anonymous_by_default() {
    let mut h = H::new();
    assert_eq!(identity_level(&mut h, SUPPLIER), 1);
    assert_eq!(profiles_view(&mut h, &ProfileRegistry::ANONYMOUSCall {}), 1);
    // Other certificates do not raise it.
    h.certify(SUPPLIER, 1102);
    h.certify(SUPPLIER, 1202);
    assert_eq!(identity_level(&mut h, SUPPLIER), 1);
}

#[test]
fn kyc2_certificate_makes_an_account_registered() {
    let mut h = H::new();
    h.certify(SUPPLIER, 1201);
    assert_eq!(identity_level(&mut h, SUPPLIER), 2);
}

#[test]
fn kyc3_certificate_makes_an_account_identified() {
    let mut h = H::new();
    h.certify(SUPPLIER, 1301);
    assert_eq!(identity_level(&mut h, SUPPLIER), 3);
}

#[test]
fn kyc4_certificate_makes_an_account_professional() {
    let mut h = H::new();
    h.certify(SUPPLIER, 1401);
    assert_eq!(identity_level(&mut h, SUPPLIER), 4);
}

#[test]
fn highest_kyc_certificate_wins() {
    let mut h = H::new();
    h.certify(SUPPLIER, 1401);
    h.certify(SUPPLIER, 1201);
    h.certify(SUPPLIER, 1301);
    assert_eq!(identity_level(&mut h, SUPPLIER), 4);
}

#[test]
fn identity_level_drops_back_after_removal() {
    let mut h = H::new();
    h.set_validator(VALIDATOR, 9);
    let kyc2 = create_cert_ok(&mut h, VALIDATOR, SUPPLIER, 1201, "yes");
    let kyc4 = create_cert_ok(&mut h, VALIDATOR, SUPPLIER, 1401, "yes");
    assert_eq!(identity_level(&mut h, SUPPLIER), 4);
    remove_cert(&mut h, VALIDATOR, kyc4).unwrap();
    assert_eq!(identity_level(&mut h, SUPPLIER), 2);
    remove_cert(&mut h, SUPPLIER, kyc2).unwrap();
    assert_eq!(identity_level(&mut h, SUPPLIER), 1);
}

#[test]
fn certificate_created_event_carries_owner_validator_attribute_and_value() {
    let mut h = H::new();
    h.set_validator(VALIDATOR, 3);
    let out = create_cert(&mut h, VALIDATOR, SUPPLIER, 1303, "NL").unwrap();
    let ev = out.event::<ProfileRegistry::CertificateCreated>().unwrap();
    assert_eq!(ev.id, out.ret);
    assert_eq!(
        (ev.owner, ev.validator, ev.attribute),
        (SUPPLIER, VALIDATOR, 1303)
    );
    assert_eq!(ev.value, text("NL"));
}

#[test]
fn certificate_removed_event_carries_owner_validator_and_attribute() {
    let mut h = H::new();
    h.set_validator(VALIDATOR, 3);
    let id = create_cert_ok(&mut h, VALIDATOR, SUPPLIER, 1303, "NL");
    let out = remove_cert(&mut h, SUPPLIER, id).unwrap();
    let ev = out.event::<ProfileRegistry::CertificateRemoved>().unwrap();
    assert_eq!(ev.id, id);
    assert_eq!(
        (ev.owner, ev.validator, ev.attribute),
        (SUPPLIER, VALIDATOR, 1303)
    );
}

// ================================================================== Blacklist

#[test]
fn an_account_adds_and_removes_entries_in_its_own_list() {
    let mut h = H::new();
    let out = blacklist_call(&mut h, CONSUMER, &Blacklist::addCall { whom: SUPPLIER }).unwrap();
    let ev = out.event::<Blacklist::Added>().unwrap();
    assert_eq!((ev.who, ev.whom), (CONSUMER, SUPPLIER));
    assert!(h.is_blacklisted(CONSUMER, SUPPLIER));
    assert!(!h.is_blacklisted(SUPPLIER, CONSUMER));

    let out = blacklist_call(&mut h, CONSUMER, &Blacklist::removeCall { whom: SUPPLIER }).unwrap();
    let ev = out.event::<Blacklist::Removed>().unwrap();
    assert_eq!((ev.who, ev.whom), (CONSUMER, SUPPLIER));
    assert!(!h.is_blacklisted(CONSUMER, SUPPLIER));
}

#[test]
fn adding_an_entry_twice_is_refused() {
    let mut h = H::new();
    h.blacklist_add(CONSUMER, SUPPLIER);
    let r = revert(blacklist_call(
        &mut h,
        CONSUMER,
        &Blacklist::addCall { whom: SUPPLIER },
    ));
    match &r {
        Revert::Blacklist(BlacklistErrors::AlreadyBlacklisted(e)) => {
            assert_eq!((e.who, e.whom), (CONSUMER, SUPPLIER));
        }
        other => panic!("expected AlreadyBlacklisted, got {other:?}"),
    }
    let msg = r.to_string();
    assert!(msg.starts_with("blacklist: "), "{msg}");
    assert!(msg.contains("already blacklisted"), "{msg}");
}

#[test]
fn removing_a_missing_entry_is_refused() {
    let mut h = H::new();
    let r = blacklist_call(&mut h, CONSUMER, &Blacklist::removeCall { whom: SUPPLIER });
    match revert(r) {
        Revert::Blacklist(BlacklistErrors::NotBlacklisted(e)) => {
            assert_eq!((e.who, e.whom), (CONSUMER, SUPPLIER));
        }
        other => panic!("expected NotBlacklisted, got {other:?}"),
    }
}

#[test]
fn only_the_list_owner_removes_its_entries() {
    let mut h = H::new();
    h.blacklist_add(CONSUMER, SUPPLIER);
    // Anybody else's remove acts on its own (empty) list.
    for other in [SUPPLIER, STRANGER, DEPLOYER] {
        let r = blacklist_call(&mut h, other, &Blacklist::removeCall { whom: SUPPLIER });
        assert!(matches!(
            revert(r),
            Revert::Blacklist(BlacklistErrors::NotBlacklisted(_))
        ));
    }
    assert!(h.is_blacklisted(CONSUMER, SUPPLIER));
}

#[test]
fn blacklisting_the_zero_address_is_refused() {
    let mut h = H::new();
    let r = blacklist_call(
        &mut h,
        CONSUMER,
        &Blacklist::addCall {
            whom: Address::ZERO,
        },
    );
    match revert(r) {
        Revert::Blacklist(BlacklistErrors::InvalidEntry(e)) => {
            assert_eq!((e.who, e.whom), (CONSUMER, Address::ZERO));
        }
        other => panic!("expected InvalidEntry, got {other:?}"),
    }
}

#[test]
fn blacklisting_oneself_is_refused() {
    let mut h = H::new();
    let r = blacklist_call(&mut h, CONSUMER, &Blacklist::addCall { whom: CONSUMER });
    assert!(matches!(
        revert(r),
        Revert::Blacklist(BlacklistErrors::InvalidEntry(_))
    ));
    assert!(!h.is_blacklisted(CONSUMER, CONSUMER));
}

#[test]
fn only_the_market_adds_entries_for_another_account() {
    let mut h = H::new();
    for caller in [STRANGER, DEPLOYER, CONSUMER] {
        let call = Blacklist::addForCall {
            who: CONSUMER,
            whom: SUPPLIER,
        };
        match revert(blacklist_call(&mut h, caller, &call)) {
            Revert::Blacklist(BlacklistErrors::NotMarket(e)) => assert_eq!(e.caller, caller),
            other => panic!("expected NotMarket, got {other:?}"),
        }
    }
    assert!(!h.is_blacklisted(CONSUMER, SUPPLIER));
}

#[test]
fn the_market_adds_an_entry_when_the_consumer_closes_with_blacklist() {
    let mut h = H::new();
    let deal = h.spot_deal(USD_PER_HOUR);
    h.sim.warp(60);
    let out = h.close(CONSUMER, &deal, 1).unwrap();
    let ev = out.event::<Blacklist::Added>().unwrap();
    assert_eq!((ev.who, ev.whom), (CONSUMER, SUPPLIER));
    assert!(h.is_blacklisted(CONSUMER, SUPPLIER));
    // The consumer alone removes it again.
    blacklist_call(&mut h, CONSUMER, &Blacklist::removeCall { whom: SUPPLIER }).unwrap();
    assert!(!h.is_blacklisted(CONSUMER, SUPPLIER));
}

#[test]
fn add_for_by_the_market_is_a_no_op_when_repeated_and_refuses_invalid_entries() {
    let mut h = H::new();
    // A blacklist of our own whose "market" is an ordinary account we can send from.
    let bl = fresh_blacklist(&mut h);
    h.sim
        .send(DEPLOYER, bl, &Blacklist::setMarketCall { market_: MASTER })
        .unwrap();
    let call = Blacklist::addForCall {
        who: CONSUMER,
        whom: SUPPLIER,
    };
    let out = h.sim.send(MASTER, bl, &call).unwrap();
    assert_eq!(out.events::<Blacklist::Added>().len(), 1);
    let out = h.sim.send(MASTER, bl, &call).unwrap();
    assert!(out.events::<Blacklist::Added>().is_empty());
    assert!(
        h.sim
            .view(
                bl,
                &Blacklist::isBlacklistedCall {
                    who: CONSUMER,
                    whom: SUPPLIER
                }
            )
            .unwrap()
    );

    let r = h.sim.send(
        MASTER,
        bl,
        &Blacklist::addForCall {
            who: CONSUMER,
            whom: CONSUMER,
        },
    );
    assert!(matches!(
        revert(r),
        Revert::Blacklist(BlacklistErrors::InvalidEntry(_))
    ));
    let r = h.sim.send(
        MASTER,
        bl,
        &Blacklist::addForCall {
            who: CONSUMER,
            whom: Address::ZERO,
        },
    );
    assert!(matches!(
        revert(r),
        Revert::Blacklist(BlacklistErrors::InvalidEntry(_))
    ));
}

#[test]
fn the_suite_blacklist_is_already_wired_to_the_market() {
    let mut h = H::new();
    let market = h
        .sim
        .view(h.a.blacklist, &Blacklist::marketCall {})
        .unwrap();
    assert_eq!(market, h.a.market);
    let deployer = h
        .sim
        .view(h.a.blacklist, &Blacklist::deployerCall {})
        .unwrap();
    assert_eq!(deployer, DEPLOYER);
}

#[test]
fn set_market_is_refused_once_wired() {
    let mut h = H::new();
    let r = blacklist_call(
        &mut h,
        DEPLOYER,
        &Blacklist::setMarketCall { market_: STRANGER },
    );
    match revert(r) {
        Revert::Blacklist(BlacklistErrors::MarketAlreadySet(e)) => assert_eq!(e.market, h.a.market),
        other => panic!("expected MarketAlreadySet, got {other:?}"),
    }
    let market = h
        .sim
        .view(h.a.blacklist, &Blacklist::marketCall {})
        .unwrap();
    assert_eq!(market, h.a.market);
}

#[test]
fn only_the_deployer_wires_the_market() {
    let mut h = H::new();
    let bl = fresh_blacklist(&mut h);
    let r = h.sim.send(
        STRANGER,
        bl,
        &Blacklist::setMarketCall { market_: STRANGER },
    );
    match revert(r) {
        Revert::Blacklist(BlacklistErrors::NotDeployer(e)) => assert_eq!(e.caller, STRANGER),
        other => panic!("expected NotDeployer, got {other:?}"),
    }
    assert_eq!(
        h.sim.view(bl, &Blacklist::marketCall {}).unwrap(),
        Address::ZERO
    );
    // On the wired suite blacklist too.
    let r = blacklist_call(
        &mut h,
        STRANGER,
        &Blacklist::setMarketCall { market_: STRANGER },
    );
    assert!(matches!(
        revert(r),
        Revert::Blacklist(BlacklistErrors::NotDeployer(_))
    ));
}

#[test]
fn the_deployer_wires_a_fresh_blacklist_exactly_once() {
    let mut h = H::new();
    let bl = fresh_blacklist(&mut h);
    let out = h
        .sim
        .send(
            DEPLOYER,
            bl,
            &Blacklist::setMarketCall {
                market_: h.a.market,
            },
        )
        .unwrap();
    assert_eq!(
        out.event::<Blacklist::MarketSet>().unwrap().market,
        h.a.market
    );
    assert_eq!(
        h.sim.view(bl, &Blacklist::marketCall {}).unwrap(),
        h.a.market
    );
    let r = h.sim.send(
        DEPLOYER,
        bl,
        &Blacklist::setMarketCall { market_: STRANGER },
    );
    assert!(matches!(
        revert(r),
        Revert::Blacklist(BlacklistErrors::MarketAlreadySet(_))
    ));
}

// ================================================================== OracleUSD

#[test]
fn dev_oracle_is_fed_by_the_deployer_alone_at_1_token_per_usd() {
    let mut h = H::new();
    let oracle = h.a.oracle;
    assert_eq!(feeders_of(&mut h, oracle), vec![DEPLOYER]);
    assert_eq!(threshold_of(&mut h, oracle), U256::from(1));
    assert_eq!(price_of(&mut h, oracle), tokens(1));
    let out = propose_price(&mut h, oracle, DEPLOYER, U256::from(3 * TOKEN / 2)).unwrap();
    assert_eq!(price_of(&mut h, oracle), U256::from(3 * TOKEN / 2));
    let ev = out.event::<OracleUSD::PriceChanged>().unwrap();
    assert_eq!(
        (ev.round, ev.price),
        (U256::from(1), U256::from(3 * TOKEN / 2))
    );
}

#[test]
fn price_changes_only_at_the_threshold_th_identical_vote() {
    let mut h = H::new();
    let o = oracle_2_of_3(&mut h);
    let new = U256::from(3 * TOKEN / 2);
    let out = propose_price(&mut h, o, F1, new).unwrap();
    let ev = out.event::<OracleUSD::PriceProposed>().unwrap();
    assert_eq!((ev.round, ev.feeder, ev.price), (U256::ZERO, F1, new));
    assert!(out.event::<OracleUSD::PriceChanged>().is_none());
    assert_eq!(price_of(&mut h, o), tokens(1));
    assert_eq!(round_of(&mut h, o), U256::ZERO);

    let out = propose_price(&mut h, o, F3, new).unwrap();
    let ev = out.event::<OracleUSD::PriceChanged>().unwrap();
    assert_eq!((ev.round, ev.price), (U256::from(1), new));
    assert_eq!(price_of(&mut h, o), new);
    assert_eq!(round_of(&mut h, o), U256::from(1));
}

#[test]
fn votes_for_different_prices_do_not_add_up() {
    let mut h = H::new();
    let o = oracle_2_of_3(&mut h);
    let a = U256::from(3 * TOKEN / 2);
    let b = U256::from(3 * TOKEN / 2 + 1);
    propose_price(&mut h, o, F1, a).unwrap();
    let out = propose_price(&mut h, o, F2, b).unwrap();
    assert!(out.event::<OracleUSD::PriceChanged>().is_none());
    assert_eq!(price_of(&mut h, o), tokens(1));
    // A second vote for b passes b.
    propose_price(&mut h, o, F3, b).unwrap();
    assert_eq!(price_of(&mut h, o), b);
}

#[test]
fn a_feeder_votes_once_per_proposal_and_round() {
    let mut h = H::new();
    let o = oracle_2_of_3(&mut h);
    let new = U256::from(3 * TOKEN / 2);
    propose_price(&mut h, o, F1, new).unwrap();
    let r = revert(propose_price(&mut h, o, F1, new));
    match &r {
        Revert::Oracle(OracleUSDErrors::AlreadyVoted(e)) => {
            assert_eq!((e.feeder, e.round), (F1, U256::ZERO));
        }
        other => panic!("expected AlreadyVoted, got {other:?}"),
    }
    let msg = r.to_string();
    assert!(msg.starts_with("oracle: "), "{msg}");
    assert!(msg.contains("already voted"), "{msg}");
    assert_eq!(price_of(&mut h, o), tokens(1));
}

#[test]
fn only_feeders_vote() {
    let mut h = H::new();
    let o = oracle_2_of_3(&mut h);
    let r = propose_price(&mut h, o, STRANGER, U256::from(3 * TOKEN / 2));
    match revert(r) {
        Revert::Oracle(OracleUSDErrors::NotFeeder(e)) => assert_eq!(e.caller, STRANGER),
        other => panic!("expected NotFeeder, got {other:?}"),
    }
    let r = propose_feeders(&mut h, o, STRANGER, &[STRANGER], 1);
    assert!(matches!(
        revert(r),
        Revert::Oracle(OracleUSDErrors::NotFeeder(_))
    ));
    // The suite's oracle: only the deployer feeds it.
    let suite = h.a.oracle;
    let r = propose_price(&mut h, suite, STRANGER, tokens(1));
    assert!(matches!(
        revert(r),
        Revert::Oracle(OracleUSDErrors::NotFeeder(_))
    ));
}

#[test]
fn price_outside_the_bounds_is_refused_even_within_one_step() {
    let mut h = H::new();
    let min = U256::from(8 * TOKEN / 10);
    let max = U256::from(15 * TOKEN / 10);
    let o = deploy_oracle(&mut h, &[F1], 1, tokens(1), min, max).unwrap();
    for p in [max + U256::from(1), min - U256::from(1)] {
        match revert(propose_price(&mut h, o, F1, p)) {
            Revert::Oracle(OracleUSDErrors::PriceOutOfBounds(e)) => {
                assert_eq!((e.price, e.minPrice, e.maxPrice), (p, min, max));
            }
            other => panic!("expected PriceOutOfBounds, got {other:?}"),
        }
    }
    // The bounds themselves are allowed.
    propose_price(&mut h, o, F1, max).unwrap();
    assert_eq!(price_of(&mut h, o), max);
    propose_price(&mut h, o, F1, min).unwrap();
    assert_eq!(price_of(&mut h, o), min);
}

#[test]
fn price_may_at_most_double_or_halve_per_change() {
    let mut h = H::new();
    let o = deploy_oracle(&mut h, &[F1], 1, tokens(1), U256::from(1), tokens(1000)).unwrap();
    let one = U256::from(1);
    for p in [tokens(2) + one, U256::from(TOKEN / 2) - one, tokens(10)] {
        match revert(propose_price(&mut h, o, F1, p)) {
            Revert::Oracle(OracleUSDErrors::PriceStepTooLarge(e)) => {
                assert_eq!(
                    (e.current, e.proposed, e.maxStep),
                    (tokens(1), p, U256::from(2))
                );
            }
            other => panic!("expected PriceStepTooLarge, got {other:?}"),
        }
    }
    propose_price(&mut h, o, F1, tokens(2)).unwrap();
    assert_eq!(price_of(&mut h, o), tokens(2));
    propose_price(&mut h, o, F1, tokens(1)).unwrap();
    propose_price(&mut h, o, F1, U256::from(TOKEN / 2)).unwrap();
    assert_eq!(price_of(&mut h, o), U256::from(TOKEN / 2));
}

#[test]
fn a_passed_vote_starts_a_new_round_and_older_votes_lapse() {
    let mut h = H::new();
    let o = oracle_2_of_3(&mut h);
    let a = U256::from(3 * TOKEN / 2);
    let b = U256::from(12 * TOKEN / 10);
    propose_price(&mut h, o, F1, a).unwrap(); // round 0, not yet passed
    propose_price(&mut h, o, F2, b).unwrap();
    propose_price(&mut h, o, F3, b).unwrap(); // b passes: round 1
    assert_eq!(
        (price_of(&mut h, o), round_of(&mut h, o)),
        (b, U256::from(1))
    );
    // F1's round-0 vote for a no longer counts.
    let out = propose_price(&mut h, o, F2, a).unwrap();
    assert!(out.event::<OracleUSD::PriceChanged>().is_none());
    assert_eq!(price_of(&mut h, o), b);
    // F1 may vote for a again in the new round, which passes it.
    propose_price(&mut h, o, F1, a).unwrap();
    assert_eq!(
        (price_of(&mut h, o), round_of(&mut h, o)),
        (a, U256::from(2))
    );
}

#[test]
fn a_passed_feeder_change_also_lapses_pending_price_votes() {
    let mut h = H::new();
    let o = oracle_2_of_3(&mut h);
    let a = U256::from(3 * TOKEN / 2);
    propose_price(&mut h, o, F1, a).unwrap();
    propose_feeders(&mut h, o, F2, &[F1, F2, F3], 2).unwrap();
    propose_feeders(&mut h, o, F3, &[F1, F2, F3], 2).unwrap();
    propose_price(&mut h, o, F2, a).unwrap();
    assert_eq!(price_of(&mut h, o), tokens(1));
}

#[test]
fn feeders_replace_the_set_and_threshold_at_the_threshold() {
    let mut h = H::new();
    let o = oracle_2_of_3(&mut h);
    let new_set = [F1, F4];
    let out = propose_feeders(&mut h, o, F1, &new_set, 1).unwrap();
    let ev = out.event::<OracleUSD::FeedersProposed>().unwrap();
    assert_eq!(
        (ev.round, ev.feeder, ev.threshold),
        (U256::ZERO, F1, U256::from(1))
    );
    assert_eq!(ev.feeders, new_set.to_vec());
    assert!(out.event::<OracleUSD::FeedersChanged>().is_none());
    assert_eq!(feeders_of(&mut h, o), vec![F1, F2, F3]);

    let out = propose_feeders(&mut h, o, F2, &new_set, 1).unwrap();
    let ev = out.event::<OracleUSD::FeedersChanged>().unwrap();
    assert_eq!((ev.round, ev.threshold), (U256::from(1), U256::from(1)));
    assert_eq!(ev.feeders, new_set.to_vec());
    assert_eq!(feeders_of(&mut h, o), new_set.to_vec());
    assert_eq!(threshold_of(&mut h, o), U256::from(1));

    // Removed feeders are out; the new one alone now moves the price.
    let r = propose_price(&mut h, o, F2, tokens(2));
    assert!(matches!(
        revert(r),
        Revert::Oracle(OracleUSDErrors::NotFeeder(_))
    ));
    let r = propose_price(&mut h, o, F3, tokens(2));
    assert!(matches!(
        revert(r),
        Revert::Oracle(OracleUSDErrors::NotFeeder(_))
    ));
    propose_price(&mut h, o, F4, tokens(2)).unwrap();
    assert_eq!(price_of(&mut h, o), tokens(2));
}

#[test]
fn feeder_set_proposals_differing_in_threshold_do_not_add_up() {
    let mut h = H::new();
    let o = oracle_2_of_3(&mut h);
    propose_feeders(&mut h, o, F1, &[F1, F2], 1).unwrap();
    propose_feeders(&mut h, o, F2, &[F1, F2], 2).unwrap();
    assert_eq!(feeders_of(&mut h, o), vec![F1, F2, F3]);
    assert_eq!(threshold_of(&mut h, o), U256::from(2));
}

#[test]
fn invalid_feeder_sets_are_refused() {
    let mut h = H::new();
    let o = oracle_2_of_3(&mut h);
    let many: Vec<Address> = (1..=65u8)
        .map(|i| Address::left_padding_from(&[i]))
        .collect();
    let cases: Vec<(&str, Vec<Address>, u64)> = vec![
        ("empty", vec![], 1),
        ("duplicate", vec![F1, F2, F1], 2),
        ("zero address", vec![F1, Address::ZERO], 1),
        ("threshold 0", vec![F1, F2], 0),
        ("threshold above size", vec![F1, F2], 3),
        ("more than 64 feeders", many, 1),
    ];
    for (what, set, threshold) in cases {
        let n = set.len();
        match revert(propose_feeders(&mut h, o, F1, &set, threshold)) {
            Revert::Oracle(OracleUSDErrors::InvalidFeederSet(e)) => {
                assert_eq!(
                    (e.feeders, e.threshold),
                    (U256::from(n), U256::from(threshold)),
                    "{what}"
                );
            }
            other => panic!("{what}: expected InvalidFeederSet, got {other:?}"),
        }
        // The constructor checks the same.
        let r = deploy_oracle(&mut h, &set, threshold, tokens(1), U256::from(1), tokens(2));
        assert!(
            matches!(
                revert(r),
                Revert::Oracle(OracleUSDErrors::InvalidFeederSet(_))
            ),
            "constructor: {what}"
        );
    }
    assert_eq!(feeders_of(&mut h, o), vec![F1, F2, F3]);
}

#[test]
fn a_set_of_64_feeders_is_accepted() {
    let mut h = H::new();
    let set: Vec<Address> = (1..=64u8)
        .map(|i| Address::left_padding_from(&[i]))
        .collect();
    let o = deploy_oracle(&mut h, &set, 64, tokens(1), U256::from(1), tokens(2)).unwrap();
    assert_eq!(feeders_of(&mut h, o).len(), 64);
}

#[test]
fn constructor_refuses_invalid_bounds() {
    let mut h = H::new();
    let p = tokens(1);
    let two_128 = U256::from(1) << 128;
    let cases = [
        ("min 0", U256::ZERO, p, tokens(2)),
        ("min above initial", p + U256::from(1), p, tokens(2)),
        ("initial above max", U256::from(1), p, p - U256::from(1)),
        ("max at 2^128", U256::from(1), p, two_128),
    ];
    for (what, min, initial, max) in cases {
        match revert(deploy_oracle(&mut h, &[F1], 1, initial, min, max)) {
            Revert::Oracle(OracleUSDErrors::InvalidBounds(e)) => {
                assert_eq!(
                    (e.minPrice, e.initialPrice, e.maxPrice),
                    (min, initial, max),
                    "{what}"
                );
            }
            other => panic!("{what}: expected InvalidBounds, got {other:?}"),
        }
    }
    // Tight but valid bounds are fine.
    let o = deploy_oracle(&mut h, &[F1], 1, p, p, two_128 - U256::from(1)).unwrap();
    assert_eq!(price_of(&mut h, o), p);
}

// ================================================================== FogToken

#[test]
fn token_has_18_decimals_a_name_and_a_symbol() {
    let mut h = H::new();
    let t = h.a.token;
    assert_eq!(h.sim.view(t, &FogToken::decimalsCall {}).unwrap(), 18);
    assert_eq!(h.sim.view(t, &FogToken::nameCall {}).unwrap(), "Fog Token");
    assert_eq!(h.sim.view(t, &FogToken::symbolCall {}).unwrap(), "FOG");
}

#[test]
fn whole_supply_goes_to_the_holder() {
    let mut h = H::new();
    let supply = tokens(1234);
    let t = deploy_token(&mut h, STRANGER, supply).unwrap();
    assert_eq!(
        h.sim.view(t, &FogToken::totalSupplyCall {}).unwrap(),
        supply
    );
    assert_eq!(
        h.sim
            .view(t, &FogToken::balanceOfCall { account: STRANGER })
            .unwrap(),
        supply
    );
    assert_eq!(
        h.sim
            .view(t, &FogToken::balanceOfCall { account: DEPLOYER })
            .unwrap(),
        U256::ZERO
    );
    // The dev suite: 444 million tokens, all with the deployer at first.
    let suite = h.a.token;
    assert_eq!(
        h.sim.view(suite, &FogToken::totalSupplyCall {}).unwrap(),
        tokens(444_000_000)
    );
}

#[test]
fn supply_up_to_2_pow_96_minus_1_is_accepted() {
    let mut h = H::new();
    let max = U256::from(u128::MAX >> 32);
    assert_eq!(max, (U256::from(1) << 96) - U256::from(1));
    let t = deploy_token(&mut h, STRANGER, max).unwrap();
    assert_eq!(h.sim.view(t, &FogToken::totalSupplyCall {}).unwrap(), max);
    assert_eq!(h.sim.view(t, &FogToken::MAX_SUPPLYCall {}).unwrap(), max);
}

#[test]
fn supply_above_2_pow_96_minus_1_is_refused() {
    let mut h = H::new();
    let max = (U256::from(1) << 96) - U256::from(1);
    let r = revert(deploy_token(&mut h, STRANGER, max + U256::from(1)));
    match &r {
        Revert::Token(FogTokenErrors::SupplyTooLarge(e)) => {
            assert_eq!((e.supply, e.maxSupply), (max + U256::from(1), max));
        }
        other => panic!("expected SupplyTooLarge, got {other:?}"),
    }
    let msg = r.to_string();
    assert!(msg.starts_with("token: "), "{msg}");
    assert!(msg.contains("above the maximum"), "{msg}");
}

#[test]
fn transfer_beyond_balance_is_refused() {
    let mut h = H::new();
    let t = h.a.token;
    let needed = U256::from(START_BALANCE) + U256::from(1);
    let r = h.sim.send(
        STRANGER,
        t,
        &FogToken::transferCall {
            to: CONSUMER,
            value: needed,
        },
    );
    match revert(r) {
        Revert::Token(FogTokenErrors::ERC20InsufficientBalance(e)) => {
            assert_eq!(
                (e.sender, e.balance, e.needed),
                (STRANGER, U256::from(START_BALANCE), needed)
            );
        }
        other => panic!("expected ERC20InsufficientBalance, got {other:?}"),
    }
    assert_eq!(h.balance(STRANGER), U256::from(START_BALANCE));
    assert_eq!(h.balance(CONSUMER), U256::from(START_BALANCE));
}

// ============================================================ workers/masters

#[test]
fn an_unbound_account_is_its_own_master() {
    let mut h = H::new();
    assert_eq!(master_of(&mut h, SUPPLIER), SUPPLIER);
    let link = master_link(&mut h, SUPPLIER);
    assert_eq!((link.master, link.confirmed), (Address::ZERO, false));
}

#[test]
fn before_confirmation_a_worker_is_its_own_master() {
    let mut h = H::new();
    let out = register_worker(&mut h, SUPPLIER, MASTER).unwrap();
    let ev = out.event::<Market::WorkerAnnounced>().unwrap();
    assert_eq!((ev.worker, ev.master), (SUPPLIER, MASTER));
    assert_eq!(master_of(&mut h, SUPPLIER), SUPPLIER);
    let link = master_link(&mut h, SUPPLIER);
    assert_eq!((link.master, link.confirmed), (MASTER, false));
}

#[test]
fn a_confirmed_worker_has_its_master() {
    let mut h = H::new();
    register_worker(&mut h, SUPPLIER, MASTER).unwrap();
    let out = confirm_worker(&mut h, MASTER, SUPPLIER).unwrap();
    let ev = out.event::<Market::WorkerConfirmed>().unwrap();
    assert_eq!((ev.worker, ev.master), (SUPPLIER, MASTER));
    assert_eq!(master_of(&mut h, SUPPLIER), MASTER);
    let link = master_link(&mut h, SUPPLIER);
    assert_eq!((link.master, link.confirmed), (MASTER, true));
    // The master itself stays its own master.
    assert_eq!(master_of(&mut h, MASTER), MASTER);
}

#[test]
fn registering_the_zero_address_as_master_is_refused() {
    let mut h = H::new();
    let r = revert(register_worker(&mut h, SUPPLIER, Address::ZERO));
    match &r {
        Revert::Market(MarketErrors::InvalidMaster(e)) => assert_eq!(e.master, Address::ZERO),
        other => panic!("expected InvalidMaster, got {other:?}"),
    }
    let msg = r.to_string();
    assert!(msg.starts_with("market: "), "{msg}");
    assert!(!msg.contains("unknown"), "{msg}");
}

#[test]
fn registering_oneself_as_master_is_refused() {
    let mut h = H::new();
    match market_err(register_worker(&mut h, SUPPLIER, SUPPLIER)) {
        MarketErrors::InvalidMaster(e) => assert_eq!(e.master, SUPPLIER),
        other => panic!("expected InvalidMaster, got {other:?}"),
    }
}

#[test]
fn a_pending_worker_cannot_register_again() {
    let mut h = H::new();
    register_worker(&mut h, SUPPLIER, MASTER).unwrap();
    match market_err(register_worker(&mut h, SUPPLIER, STRANGER)) {
        MarketErrors::WorkerAlreadyRegistered(e) => {
            assert_eq!((e.worker, e.master), (SUPPLIER, MASTER))
        }
        other => panic!("expected WorkerAlreadyRegistered, got {other:?}"),
    }
    assert!(matches!(
        market_err(register_worker(&mut h, SUPPLIER, MASTER)),
        MarketErrors::WorkerAlreadyRegistered(_)
    ));
}

#[test]
fn a_confirmed_worker_cannot_register_again() {
    let mut h = H::new();
    h.bind_worker(SUPPLIER, MASTER);
    assert!(matches!(
        market_err(register_worker(&mut h, SUPPLIER, STRANGER)),
        MarketErrors::WorkerAlreadyRegistered(_)
    ));
    assert_eq!(master_of(&mut h, SUPPLIER), MASTER);
}

#[test]
fn only_the_named_master_confirms() {
    let mut h = H::new();
    register_worker(&mut h, SUPPLIER, MASTER).unwrap();
    match market_err(confirm_worker(&mut h, STRANGER, SUPPLIER)) {
        MarketErrors::NoPendingWorker(e) => assert_eq!((e.worker, e.master), (SUPPLIER, STRANGER)),
        other => panic!("expected NoPendingWorker, got {other:?}"),
    }
    assert_eq!(master_of(&mut h, SUPPLIER), SUPPLIER);
}

#[test]
fn confirming_twice_is_refused() {
    let mut h = H::new();
    h.bind_worker(SUPPLIER, MASTER);
    assert!(matches!(
        market_err(confirm_worker(&mut h, MASTER, SUPPLIER)),
        MarketErrors::NoPendingWorker(_)
    ));
}

#[test]
fn confirming_an_unregistered_worker_is_refused() {
    let mut h = H::new();
    assert!(matches!(
        market_err(confirm_worker(&mut h, MASTER, SUPPLIER)),
        MarketErrors::NoPendingWorker(_)
    ));
    assert_eq!(master_of(&mut h, SUPPLIER), SUPPLIER);
}

#[test]
fn the_worker_may_remove_its_link() {
    let mut h = H::new();
    h.bind_worker(SUPPLIER, MASTER);
    let out = remove_worker(&mut h, SUPPLIER, SUPPLIER, MASTER).unwrap();
    let ev = out.event::<Market::WorkerRemoved>().unwrap();
    assert_eq!((ev.worker, ev.master), (SUPPLIER, MASTER));
    assert_eq!(master_of(&mut h, SUPPLIER), SUPPLIER);
    let link = master_link(&mut h, SUPPLIER);
    assert_eq!((link.master, link.confirmed), (Address::ZERO, false));
    // And is free to register anew.
    register_worker(&mut h, SUPPLIER, STRANGER).unwrap();
}

#[test]
fn the_master_may_remove_its_worker() {
    let mut h = H::new();
    h.bind_worker(SUPPLIER, MASTER);
    let out = remove_worker(&mut h, MASTER, SUPPLIER, MASTER).unwrap();
    let ev = out.event::<Market::WorkerRemoved>().unwrap();
    assert_eq!((ev.worker, ev.master), (SUPPLIER, MASTER));
    assert_eq!(master_of(&mut h, SUPPLIER), SUPPLIER);
}

#[test]
fn a_pending_link_may_be_removed() {
    let mut h = H::new();
    register_worker(&mut h, SUPPLIER, MASTER).unwrap();
    remove_worker(&mut h, MASTER, SUPPLIER, MASTER).unwrap();
    assert!(matches!(
        market_err(confirm_worker(&mut h, MASTER, SUPPLIER)),
        MarketErrors::NoPendingWorker(_)
    ));
    assert_eq!(master_of(&mut h, SUPPLIER), SUPPLIER);
}

#[test]
fn a_stranger_cannot_remove_a_link() {
    let mut h = H::new();
    h.bind_worker(SUPPLIER, MASTER);
    match market_err(remove_worker(&mut h, STRANGER, SUPPLIER, MASTER)) {
        MarketErrors::NotWorkerOrMaster(e) => assert_eq!(e.caller, STRANGER),
        other => panic!("expected NotWorkerOrMaster, got {other:?}"),
    }
    assert_eq!(master_of(&mut h, SUPPLIER), MASTER);
}

#[test]
fn removing_with_the_wrong_master_is_refused() {
    let mut h = H::new();
    h.bind_worker(SUPPLIER, MASTER);
    // The worker naming another master.
    match market_err(remove_worker(&mut h, SUPPLIER, SUPPLIER, STRANGER)) {
        MarketErrors::NotWorkerOf(e) => assert_eq!((e.worker, e.master), (SUPPLIER, STRANGER)),
        other => panic!("expected NotWorkerOf, got {other:?}"),
    }
    // A stranger posing as the master.
    assert!(matches!(
        market_err(remove_worker(&mut h, STRANGER, SUPPLIER, STRANGER)),
        MarketErrors::NotWorkerOf(_)
    ));
    assert_eq!(master_of(&mut h, SUPPLIER), MASTER);
}

#[test]
fn removing_an_unbound_worker_is_refused() {
    let mut h = H::new();
    assert!(matches!(
        market_err(remove_worker(&mut h, SUPPLIER, SUPPLIER, Address::ZERO)),
        MarketErrors::NotWorkerOf(_)
    ));
    assert!(matches!(
        market_err(remove_worker(&mut h, MASTER, SUPPLIER, MASTER)),
        MarketErrors::NotWorkerOf(_)
    ));
}

#[test]
fn a_deal_opened_while_bound_pays_the_master() {
    let mut h = H::new();
    h.bind_worker(SUPPLIER, MASTER);
    let price = 2 * USD_PER_HOUR;
    let deal = h.spot_deal(price);
    assert_eq!(deal.parties.master, MASTER);
    assert_eq!(deal.parties.supplier, SUPPLIER);
    let (supplier0, master0) = (h.balance(SUPPLIER), h.balance(MASTER));
    h.sim.warp(600);
    h.bill(SUPPLIER, &deal).unwrap();
    let paid = h.cost(price, 600);
    assert!(paid > U256::ZERO);
    assert_eq!(h.balance(MASTER), master0 + paid);
    assert_eq!(h.balance(SUPPLIER), supplier0);
}

#[test]
fn a_live_deal_keeps_paying_its_master_after_the_link_is_removed() {
    let mut h = H::new();
    h.bind_worker(SUPPLIER, MASTER);
    let price = 2 * USD_PER_HOUR;
    let deal = h.spot_deal(price);
    remove_worker(&mut h, SUPPLIER, SUPPLIER, MASTER).unwrap();
    let (supplier0, master0) = (h.balance(SUPPLIER), h.balance(MASTER));
    h.sim.warp(600);
    h.bill(CONSUMER, &deal).unwrap();
    assert_eq!(h.balance(MASTER), master0 + h.cost(price, 600));
    assert_eq!(h.balance(SUPPLIER), supplier0);
}

#[test]
fn a_deal_opened_while_only_pending_pays_the_worker() {
    let mut h = H::new();
    register_worker(&mut h, SUPPLIER, MASTER).unwrap();
    let price = 2 * USD_PER_HOUR;
    let deal = h.spot_deal(price);
    assert_eq!(deal.parties.master, SUPPLIER);
    let (supplier0, master0) = (h.balance(SUPPLIER), h.balance(MASTER));
    h.sim.warp(600);
    h.bill(SUPPLIER, &deal).unwrap();
    assert_eq!(h.balance(SUPPLIER), supplier0 + h.cost(price, 600));
    assert_eq!(h.balance(MASTER), master0);
}
