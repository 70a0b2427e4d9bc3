//! MSSanté messages of a structure (issue 14): an outgoing message is a row
//! written with its outbox job in one transaction; the job and the
//! delivery/read notices move it along; people read it on the file page and
//! on the structure's messaging page. Also the structure's mailbox setting.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::mss_message::MessageState;
use crate::domain::tenant::Tenant;
use crate::store::{Journal, StoreResult};

/// One message, with what its job says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MssMessage {
    pub id: Uuid,
    /// `None`: a received message not yet attached to a file.
    pub usager_id: Option<Uuid>,
    pub outgoing: bool,
    /// RFC 5322 `<…@…>`, the same at every attempt.
    pub message_id: String,
    /// The conversation's first message.
    pub thread_id: String,
    pub in_reply_to: Option<String>,
    pub sender: String,
    pub recipients: Vec<String>,
    /// To the user's Mon espace santé mailbox.
    pub to_patient: bool,
    pub reply_allowed: bool,
    /// As typed (the XDM prefix is added when sending, hidden when shown).
    pub subject: String,
    pub body: String,
    /// The first document it carries, and its title.
    pub document_id: Option<Uuid>,
    pub document_title: Option<String>,
    /// How many documents it carries ([`MssStore::mss_documents`]).
    pub document_count: i64,
    /// Its own state, or « en échec » when its job gave up.
    pub state: MessageState,
    /// Why it failed (the job's last error while a retry is pending).
    pub reason: Option<String>,
    /// What the operator's server answered.
    pub server_answer: Option<String>,
    pub job_id: Option<Uuid>,
    pub attempts: i32,
    /// When the job tries next (while waiting).
    pub next_try: Option<DateTime<Utc>>,
    pub author: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The file's display name (structure-wide lists).
    pub usager_label: String,
}

/// An outgoing message as the service checked it.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    pub usager_id: Uuid,
    pub message_id: &'a str,
    pub thread_id: &'a str,
    pub in_reply_to: Option<&'a str>,
    pub sender: &'a str,
    pub recipients: &'a [String],
    pub to_patient: bool,
    pub reply_allowed: bool,
    pub subject: &'a str,
    pub body: &'a str,
    /// The documents of the file it carries, in order.
    pub documents: &'a [Uuid],
}

/// A message received in the structure's mailbox, as it is kept.
#[derive(Debug, Clone)]
pub struct NewIncoming<'a> {
    /// The file it belongs to (thread or INS), or `None`: « à rattacher ».
    pub usager_id: Option<Uuid>,
    pub message_id: &'a str,
    pub thread_id: &'a str,
    pub in_reply_to: Option<&'a str>,
    pub sender: &'a str,
    pub recipients: &'a [String],
    /// From a Mon espace santé mailbox.
    pub from_patient: bool,
    pub subject: &'a str,
    pub body: &'a str,
    /// What could not be read or kept (over a cap, unreadable).
    pub reason: Option<&'a str>,
    /// The message as it came (its attachments are taken from it).
    pub raw: &'a [u8],
}

/// What one message of the mailbox comes to, recorded with the reading's
/// cursor in one transaction: read once, whatever happens after.
#[derive(Debug, Clone)]
pub enum MailboxEntry<'a> {
    /// A notice about one of the structure's messages: its new state.
    Notice {
        message: Uuid,
        state: MessageState,
        reason: Option<&'a str>,
    },
    Received(NewIncoming<'a>),
    /// Nothing to keep (a notice about no message of ours, a repeat).
    Nothing,
}

#[async_trait]
pub trait MssStore: Send + Sync {
    /// Writes the message and its job (kind `mss`) in one transaction, with
    /// the journal. The document, if any, must be one the tenant reads, of
    /// this live file. A message whose Message-ID the structure has already
    /// (a form sent twice) returns the first (`false`).
    async fn request_mss(
        &self,
        t: &Tenant,
        m: &NewMessage<'_>,
        journal: Journal<'_>,
    ) -> StoreResult<(MssMessage, bool)>;
    /// The file's messages (whose document the tenant reads), newest first.
    async fn mss_messages(&self, t: &Tenant, usager_id: Uuid) -> StoreResult<Vec<MssMessage>>;
    /// One message of the structure, whoever reads it (the job).
    async fn mss_message(&self, structure_id: Uuid, id: Uuid) -> StoreResult<Option<MssMessage>>;
    /// The documents a message of the structure carries, in order.
    async fn mss_documents(&self, structure_id: Uuid, id: Uuid) -> StoreResult<Vec<Uuid>>;
    /// The job or a notice moves the message on, with its journal.
    async fn set_mss_state(
        &self,
        t: &Tenant,
        id: Uuid,
        state: MessageState,
        reason: Option<&str>,
        server_answer: Option<&str>,
        journal: Journal<'_>,
    ) -> StoreResult<()>;
    /// A failed message goes back to the queue (its job too).
    async fn retry_mss(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        id: Uuid,
        journal: Journal<'_>,
    ) -> StoreResult<()>;
    /// A message that has not gone out is cancelled (its job ends).
    async fn cancel_mss(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        id: Uuid,
        journal: Journal<'_>,
    ) -> StoreResult<()>;
    /// The structure's outgoing messages that need someone: failed, or sent
    /// before `undelivered_before` and still without a delivery notice.
    async fn mss_attention(
        &self,
        t: &Tenant,
        undelivered_before: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<MssMessage>>;
    /// Where the reading of the structure's mailbox stands:
    /// `(uid_validity, last_uid)`.
    async fn mss_cursor(&self, structure_id: Uuid) -> StoreResult<Option<(i64, i64)>>;
    /// Records what the message at `cursor` said and moves the cursor
    /// there, with the journal, in one transaction. A received message whose
    /// Message-ID the structure has already is not kept twice (`None`).
    async fn record_mailbox_entry(
        &self,
        t: &Tenant,
        cursor: (i64, i64),
        entry: &MailboxEntry<'_>,
        journal: Journal<'_>,
    ) -> StoreResult<Option<Uuid>>;
    /// The structure's messages whose Message-ID is one of `ids` (threading,
    /// notices), oldest first.
    async fn mss_by_message_ids(
        &self,
        structure_id: Uuid,
        ids: &[String],
    ) -> StoreResult<Vec<MssMessage>>;
    /// Received messages attached to no file (« à rattacher »), newest first.
    async fn mss_unattached(&self, t: &Tenant, limit: i64) -> StoreResult<Vec<MssMessage>>;
    /// A received message as it came.
    async fn mss_raw(&self, structure_id: Uuid, id: Uuid) -> StoreResult<Option<Vec<u8>>>;
    /// Attaches a received message (and the rest of its conversation not yet
    /// attached) to a live file of the structure, with the journal.
    async fn attach_mss(
        &self,
        t: &Tenant,
        id: Uuid,
        usager_id: Uuid,
        journal: Journal<'_>,
    ) -> StoreResult<()>;
    /// Each structure with a mailbox and who its scheduled readings run as:
    /// its first active director (by name), in one statement whatever the
    /// number of structures. Without a director a structure is not read.
    async fn mss_readers(&self) -> StoreResult<Vec<(Uuid, Uuid)>>;
    /// The structure's MSSanté mailbox (`None`: none).
    async fn set_mss_mailbox(
        &self,
        t: &Tenant,
        mailbox: Option<&str>,
        journal: Journal<'_>,
    ) -> StoreResult<()>;
}
