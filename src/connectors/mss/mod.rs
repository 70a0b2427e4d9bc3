//! MSSanté (issue 14): the messages a structure sends from its mailbox.
//! [`message`] writes one (headers of the Référentiel socle #2, threading,
//! read receipt, attachments); [`xdm`] the `IHE_XDM.ZIP` that carries a
//! document with its CDA; [`smtp`] submits it over STARTTLS with the
//! structure's certificate. IMAP comes next.

pub mod message;
pub mod smtp;
pub mod xdm;
