//! Listeners, the address map, connection threads and the request/response pumps.
