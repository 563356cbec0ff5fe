//! The Token Vending Machine Lambda: vend, whoami, profiles, health.
