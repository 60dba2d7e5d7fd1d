//! The seeded people and medical centres, and what GipoNext lets each do.
//!
//! GipoNext applies two layers to every call: the scope in the token, and the
//! user's own permission inside GipoNext. [`Permissions`] is the second layer.

use giponext_shared::Resource;
use giponext_shared::operations::Access;

/// The password of every seeded user (sandbox only).
pub const PASSWORD: &str = "sandbox";
/// Full permissions, tenant `tenant-abc123`.
pub const MARIO: &str = "mario.rossi";
/// Front desk, tenant `tenant-abc123`: may not write invoices or medical reports.
pub const GIULIA: &str = "giulia.bianchi";
/// Full permissions, tenant `tenant-def456`.
pub const LUCA: &str = "luca.verdi";

/// The main seeded tenant.
pub const TENANT_MAIN: &str = "tenant-abc123";
/// The second seeded tenant.
pub const TENANT_OTHER: &str = "tenant-def456";

/// A medical centre.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tenant {
    /// `tenantId`.
    pub id: &'static str,
    /// Name.
    pub name: &'static str,
}

/// The seeded tenants.
pub const TENANTS: &[Tenant] = &[
    Tenant {
        id: TENANT_MAIN,
        name: "Poliambulatorio San Marco",
    },
    Tenant {
        id: TENANT_OTHER,
        name: "Centro Medico Santa Chiara",
    },
];

/// What a user's GipoNext role allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permissions {
    /// Everything.
    Full,
    /// Front desk: reads everything, writes patients, appointments and
    /// episodes; may not write invoices or medical reports.
    FrontDesk,
}

impl Permissions {
    /// Whether the role allows `access` to `resource`.
    pub fn allows(self, resource: Resource, access: Access) -> bool {
        match self {
            Permissions::Full => true,
            Permissions::FrontDesk => {
                access == Access::Read
                    || !matches!(resource, Resource::Invoices | Resource::MedicalReports)
            }
        }
    }
}

/// A seeded user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct User {
    /// Stable subject identifier (`sub`).
    pub sub: &'static str,
    /// Login name.
    pub username: &'static str,
    /// Display name.
    pub name: &'static str,
    /// E-mail.
    pub email: &'static str,
    /// The tenant the user belongs to.
    pub tenant: &'static str,
    /// The user's GipoNext role.
    pub permissions: Permissions,
}

/// The seeded users.
pub const USERS: &[User] = &[
    User {
        sub: "user-7f3a9c01",
        username: MARIO,
        name: "Mario Rossi",
        email: "mario.rossi@sanmarco.example",
        tenant: TENANT_MAIN,
        permissions: Permissions::Full,
    },
    User {
        sub: "user-2b81d4e7",
        username: GIULIA,
        name: "Giulia Bianchi",
        email: "giulia.bianchi@sanmarco.example",
        tenant: TENANT_MAIN,
        permissions: Permissions::FrontDesk,
    },
    User {
        sub: "user-c40e5a92",
        username: LUCA,
        name: "Luca Verdi",
        email: "luca.verdi@santachiara.example",
        tenant: TENANT_OTHER,
        permissions: Permissions::Full,
    },
];

/// The user with this login name.
pub fn by_username(username: &str) -> Option<&'static User> {
    USERS.iter().find(|u| u.username == username)
}

/// The user with this subject.
pub fn by_sub(sub: &str) -> Option<&'static User> {
    USERS.iter().find(|u| u.sub == sub)
}

/// The tenant with this id.
pub fn tenant(id: &str) -> Option<&'static Tenant> {
    TENANTS.iter().find(|t| t.id == id)
}

/// Checks a login: the user when the password is right.
pub fn authenticate(username: &str, password: &str) -> Option<&'static User> {
    // Constant-time comparison is not needed for a fixed sandbox password.
    by_username(username).filter(|_| password == PASSWORD)
}
