-- The structure's MSSanté mailbox (issue 14): an address of the instance's
-- operator domain, set by its director; its certificate is a file of the
-- data directory (mss/<FINESS>/bal.pem, bal.key).
ALTER TABLE structures ADD COLUMN mss_mailbox TEXT;
