//! Blind transfer (RFC 3515, RFC 5589): we send REFER naming the target; the peer calls it and reports
//! how that call goes in NOTIFYs carrying a `message/sipfrag` status line. On a final 2xx we hang up our
//! leg (the peer is now talking to the target); on a failure the call stays ours.

use super::{Call, CallAction, CallContext, CallEvent, Phase};
use crate::message::{IncomingRequest, IncomingResponse, Method};
use crate::outgoing::Reply;
use crate::transaction::server::ServerKey;

/// A transfer we asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Transfer {
    /// CSeq of our REFER.
    refer_cseq: u32,
}

/// Reads a sipfrag body's status line (`SIP/2.0 180 Ringing`).
fn sipfrag_status(body: &[u8]) -> Option<(u16, String)> {
    let text = std::str::from_utf8(body).ok()?;
    let line = text.lines().next()?.trim();
    let mut parts = line.splitn(3, ' ');
    if !parts.next()?.eq_ignore_ascii_case("SIP/2.0") {
        return None;
    }
    let status = parts
        .next()?
        .parse::<u16>()
        .ok()
        .filter(|s| (100..700).contains(s))?;
    Some((status, parts.next().unwrap_or_default().to_owned()))
}

impl Call {
    /// Asks the peer to call `target` (a SIP URI) instead of us. Refused (returns nothing) unless the
    /// call is up and no other transfer is in progress.
    pub fn transfer(&mut self, target: &str, ctx: &CallContext<'_>) -> Vec<CallAction> {
        if !matches!(self.phase, Phase::Established(_)) || self.transfer.is_some() {
            return Vec::new();
        }
        let contact = ctx.local.contact(self.trunk.local_user());
        let Some(mut refer) = self.dialog_request(Method::Refer, ctx) else {
            return Vec::new();
        };
        let local_uri = crate::message::uri_of(&refer.from).to_owned();
        refer.set_extra("Refer-To", format!("<{target}>"));
        refer.set_extra("Referred-By", format!("<{local_uri}>"));
        refer.set_extra("Contact", contact);
        self.transfer = Some(Transfer {
            refer_cseq: refer.cseq,
        });
        self.refer_target = Some(target.to_owned());
        vec![CallAction::Send(refer)]
    }

    pub(super) fn on_refer_response(
        &mut self,
        response: &IncomingResponse,
        ctx: &CallContext<'_>,
    ) -> Vec<CallAction> {
        let Some(transfer) = self.transfer else {
            return Vec::new();
        };
        if response.common.cseq != transfer.refer_cseq || response.status < 200 {
            return Vec::new();
        }
        match response.status {
            200..=299 => vec![CallAction::Event(CallEvent::Transfer {
                status: response.status,
                reason: response.reason.clone(),
                done: false,
            })],
            401 | 407 if self.take_challenge(response) => {
                // Ask again with credentials.
                self.transfer = None;
                let target = self.refer_target.take().unwrap_or_default();
                self.transfer(&target, ctx)
            }
            status => self.refer_failed(status, &response.reason),
        }
    }

    pub(super) fn refer_failed(&mut self, status: u16, reason: &str) -> Vec<CallAction> {
        if self.transfer.take().is_none() {
            return Vec::new();
        }
        vec![CallAction::Event(CallEvent::Transfer {
            status,
            reason: reason.to_owned(),
            done: true,
        })]
    }

    /// A NOTIFY in our dialog: the progress of the transfer.
    pub(super) fn on_notify(
        &mut self,
        key: ServerKey,
        request: &IncomingRequest,
        ctx: &CallContext<'_>,
    ) -> Vec<CallAction> {
        let event = request.msg.headers.get("event").unwrap_or_default();
        let is_refer = event
            .split(';')
            .next()
            .is_some_and(|e| e.trim().eq_ignore_ascii_case("refer"));
        if !is_refer || self.transfer.is_none() {
            return vec![CallAction::Respond(
                key,
                Reply::new(481, "Subscription Does Not Exist"),
            )];
        }
        let mut actions = vec![CallAction::Respond(key, Reply::new(200, "OK"))];
        let terminated = request
            .msg
            .headers
            .get("subscription-state")
            .is_some_and(|s| s.trim_start().to_ascii_lowercase().starts_with("terminated"));
        let (status, reason) = sipfrag_status(&request.msg.body).unwrap_or((100, "Trying".to_owned()));
        let done = status >= 200 || terminated;
        if done {
            self.transfer = None;
        }
        actions.push(CallAction::Event(CallEvent::Transfer { status, reason, done }));
        if done && (200..300).contains(&status) {
            // The peer is with the target now: our leg is done (RFC 5589 6.1).
            actions.extend(self.bye(ctx, "transferred"));
        }
        actions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sipfrag_status_lines() {
        assert_eq!(sipfrag_status(b"SIP/2.0 200 OK\r\n"), Some((200, "OK".into())));
        assert_eq!(
            sipfrag_status(b"SIP/2.0 180 Ringing"),
            Some((180, "Ringing".into()))
        );
        assert_eq!(sipfrag_status(b"SIP/2.0 99 x"), None);
        assert_eq!(sipfrag_status(b"hello"), None);
        assert_eq!(sipfrag_status(&[0xff, 0xfe]), None);
    }
}
