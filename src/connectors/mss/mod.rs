//! MSSanté (issue 14): the messages a structure sends from its mailbox and
//! reads in it. [`message`] writes one (headers of the Référentiel socle #2,
//! threading, read receipt, attachments); [`xdm`] the `IHE_XDM.ZIP` that
//! carries a document with its CDA; [`smtp`] submits it over STARTTLS with
//! the structure's certificate; [`imap`] reads the mailbox (STARTTLS, SASL
//! EXTERNAL, by UID); [`incoming`] tells a DSN, an MDN and a message apart.

pub mod imap;
pub mod incoming;
pub mod message;
pub mod smtp;
pub mod xdm;
