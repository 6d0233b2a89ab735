//! Choosing the network interface: loopback unless the user names another.

use std::fmt;
use std::net::Ipv4Addr;

/// The environment variable that names the interface when no command-line flag does.
pub const INTERFACE_ENV: &str = "POLLEN_INTERFACE";

/// Why an interface name could not be resolved.
#[derive(Debug)]
pub enum InterfaceError {
    /// The interface list could not be read.
    Io(std::io::Error),
    /// No interface of that name has an IPv4 address.
    NotFound(String),
}

impl fmt::Display for InterfaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InterfaceError::Io(e) => write!(f, "reading the interface list: {e}"),
            InterfaceError::NotFound(n) => {
                write!(f, "no interface named {n:?} with an IPv4 address")
            }
        }
    }
}

impl std::error::Error for InterfaceError {}

/// Resolves an interface given as an IPv4 address or a name (`lo`, `eth0`, ...) to the IPv4
/// address the participant announces and sends multicast through. `None` consults
/// [`INTERFACE_ENV`] and otherwise means loopback (127.0.0.1).
pub fn resolve_interface(spec: Option<&str>) -> Result<Ipv4Addr, InterfaceError> {
    let env = std::env::var(INTERFACE_ENV).ok();
    let spec = spec.or(env.as_deref()).map(str::trim).unwrap_or("");
    if spec.is_empty() {
        return Ok(Ipv4Addr::LOCALHOST);
    }
    if let Ok(a) = spec.parse::<Ipv4Addr>() {
        return Ok(a);
    }
    let ifaces = if_addrs::get_if_addrs().map_err(InterfaceError::Io)?;
    ifaces
        .iter()
        .filter(|i| i.name == spec)
        .find_map(|i| match i.ip() {
            std::net::IpAddr::V4(a) => Some(a),
            std::net::IpAddr::V6(_) => None,
        })
        .ok_or_else(|| InterfaceError::NotFound(spec.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_loopback_name_resolve() {
        assert_eq!(
            resolve_interface(Some("127.0.0.1")).unwrap(),
            Ipv4Addr::LOCALHOST
        );
        assert_eq!(resolve_interface(Some("lo")).unwrap(), Ipv4Addr::LOCALHOST);
        assert!(matches!(
            resolve_interface(Some("no-such-interface0")),
            Err(InterfaceError::NotFound(_))
        ));
    }
}
