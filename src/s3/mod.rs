//! Everything of S3 and the CDN: the key layout and its guards (`keys`),
//! the calls to S3 (`objects`: existence, presigning, listing, deleting),
//! the links a browser renders (`links`) and CloudFront signed URLs (`cdn`), and the local bucket's
//! creation (`provision`); what an upload's first bytes must be (`content`).

pub mod cdn;
pub mod content;
pub mod keys;
pub mod links;
pub mod objects;
pub mod provision;
