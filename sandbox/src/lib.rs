//! A faithful local stand-in for account.gipo.it and api.giponext.it.
