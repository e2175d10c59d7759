//! `deploy` against real components: an sshd fleet, a real HAProxy, a small
//! web application that refuses connections while it restarts.

mod phases;
mod recovery;
mod rolling;
mod stand;
