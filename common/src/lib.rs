//! What the three binaries share, written once.
//!
//! The edges every command has: [`input`] reads a file or stdin (size-capped,
//! UTF-8 checked with a location); [`diagnostic`] renders a message about a
//! place in a user's file (file:line:column, the line, a caret, a hint);
//! [`fs`] writes files atomically (and `-` to stdout); [`junit`] writes JUnit
//! XML that parses whatever the names contain; [`exit`] is the one set of exit
//! codes; [`manual`] makes shell completions and the man page from a
//! binary's clap command. And the wire format between loadgen and slo: [`report`], the
//! versioned run report loadgen writes and slo reads, whose JSON Schema is
//! generated from these types and checked in.

pub mod diagnostic;
pub mod exit;
pub mod fs;
pub mod input;
pub mod junit;
pub mod manual;
pub mod report;
