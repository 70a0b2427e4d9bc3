//! MSSanté (issue 14): the messages a structure sends from its mailbox.
//! [`message`] writes one (headers of the Référentiel socle #2, threading,
//! read receipt, attachments); [`xdm`] the `IHE_XDM.ZIP` that carries a
//! document with its CDA. SMTP submission and IMAP come next.

pub mod message;
pub mod xdm;
