//! Helpers that follow an operation's pages to the end, over any [`Kinesis`].

use super::{Error, Kinesis, ListShardsInput, Shard};

/// Every shard of `stream` (open and closed), following ListShards' pages: the first call
/// names the stream, the later ones only the NextToken, as AWS requires.
///
/// # Cancel safety
/// Cancel safe: it only reads.
pub async fn list_all_shards(k: &dyn Kinesis, stream: &str) -> Result<Vec<Shard>, Error> {
    let mut shards = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = k
            .list_shards(ListShardsInput {
                stream_name: token.is_none().then(|| stream.to_string()),
                next_token: token.take(),
                ..Default::default()
            })
            .await?;
        shards.extend(page.shards);
        match page.next_token {
            Some(t) => token = Some(t),
            None => return Ok(shards),
        }
    }
}
