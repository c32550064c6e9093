pub mod dns;
pub mod sipp;
