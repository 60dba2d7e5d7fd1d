//! The backend-for-frontend: OAuth client, server-held tokens, session API and API proxy.
