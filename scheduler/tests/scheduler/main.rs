//! The scheduler against real backends: SQLite files and PostgreSQL databases for the store,
//! Redis (random namespace) or SQLite for the queue, Redis or store leases for the lock. One
//! binary, one module per concern.

mod due;
mod failover;
mod parked;
mod support;
mod sweeps;
mod time_zones;
