//! The pieces of the RFC 3261 section 25 grammar that decide whether a message is well formed: tokens,
//! URIs, name-addr and addr-spec, Via, header parameters. Each function reads one header value (already
//! unfolded) and either returns its parts or says what is wrong, without allocating for the checks.
//!
//! Written by hand rather than taken from `rsip`: that parser rejects a third of the valid RFC 4475
//! messages and accepts a third of the invalid ones, and its method type cannot hold extension methods.

/// What is wrong with a value; the header name is added by the caller.
pub type Why = &'static str;

/// `token` characters (RFC 3261 25.1).
pub fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c)
}

/// A non-empty run of token characters.
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_token_char)
}

/// Linear white space as it remains after unfolding.
fn is_lws(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// `unreserved` = alphanum / mark.
fn is_unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.!~*'()".contains(c)
}

/// Checks that every `%` in `s` starts an escape (`%` HEX HEX) and that the other characters satisfy
/// `allowed`.
fn check_escaped(s: &str, allowed: impl Fn(char) -> bool, why: Why) -> Result<(), Why> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(why)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return Err(why);
            }
            i += 3;
        } else if b.is_ascii() && allowed(b as char) {
            i += 1;
        } else {
            return Err(why);
        }
    }
    Ok(())
}

/// The parts of a SIP or SIPS URI that the stack uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri<'a> {
    /// `sip` or `sips`, lower-cased by the caller when compared.
    pub scheme: &'a str,
    /// The user part (before any `:password`), still escaped.
    pub user: Option<&'a str>,
    /// Host name or address (IPv6 with its brackets).
    pub host: &'a str,
    /// Port, if given.
    pub port: Option<u16>,
    /// The `;name[=value]` parameters, text after the host and before any `?`.
    pub params: &'a str,
    /// Whether the URI carries `?headers`.
    pub has_headers: bool,
}

impl<'a> SipUri<'a> {
    /// The value of URI parameter `name` (case-insensitive); `Some("")` for a parameter without value.
    pub fn param(&self, name: &str) -> Option<&'a str> {
        self.params.split(';').skip(1).find_map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            n.eq_ignore_ascii_case(name).then_some(v)
        })
    }
}

/// The scheme of an absolute URI, checked: `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )` then `:`.
pub fn scheme_of(uri: &str) -> Result<(&str, &str), Why> {
    let (scheme, rest) = uri.split_once(':').ok_or("URI without scheme")?;
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) {
        return Err("bad URI scheme");
    }
    Ok((scheme, rest))
}

/// Checks any absolute URI: a valid scheme, then no white space or control characters. SIP and SIPS
/// URIs get the full check of [`sip_uri`].
pub fn check_uri(uri: &str) -> Result<(), Why> {
    let (scheme, rest) = scheme_of(uri)?;
    if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
        return sip_uri(uri).map(|_| ());
    }
    if rest.is_empty()
        || rest
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
    {
        return Err("bad URI");
    }
    Ok(())
}

/// Parses a SIP or SIPS URI (RFC 3261 19.1.1 and 25.1).
pub fn sip_uri(uri: &str) -> Result<SipUri<'_>, Why> {
    let (scheme, rest) = scheme_of(uri)?;
    if !(scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips")) {
        return Err("not a SIP URI");
    }
    // No character of host, parameters or headers may be `@`, so the first `@` ends the userinfo.
    let (user, rest) = match rest.split_once('@') {
        Some((userinfo, rest)) => {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            if user.is_empty() {
                return Err("empty user in URI");
            }
            check_escaped(
                user,
                |c| is_unreserved(c) || "&=+$,;?/".contains(c),
                "bad user in URI",
            )?;
            check_escaped(
                password,
                |c| is_unreserved(c) || "&=+$,".contains(c),
                "bad password in URI",
            )?;
            (Some(user), rest)
        }
        None => (None, rest),
    };
    let (before_headers, headers) = match rest.split_once('?') {
        Some((a, h)) => (a, Some(h)),
        None => (rest, None),
    };
    let (hostport, params) = match before_headers.find(';') {
        Some(i) => before_headers.split_at(i),
        None => (before_headers, ""),
    };
    let (host, port) = host_port(hostport)?;
    for param in params.split(';').skip(1) {
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        let paramchar = |c: char| is_unreserved(c) || "[]/:&+$".contains(c);
        if name.is_empty() {
            return Err("empty URI parameter");
        }
        check_escaped(name, paramchar, "bad URI parameter")?;
        check_escaped(value, paramchar, "bad URI parameter")?;
    }
    if let Some(headers) = headers {
        for header in headers.split('&') {
            let (name, value) = header.split_once('=').ok_or("bad URI header")?;
            let hchar = |c: char| is_unreserved(c) || "[]/?:+$".contains(c);
            if name.is_empty() {
                return Err("bad URI header");
            }
            check_escaped(name, hchar, "bad URI header")?;
            check_escaped(value, hchar, "bad URI header")?;
        }
    }
    Ok(SipUri {
        scheme,
        user,
        host,
        port,
        params,
        has_headers: headers.is_some(),
    })
}

/// Splits and checks `host [ ":" port ]`.
pub fn host_port(text: &str) -> Result<(&str, Option<u16>), Why> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let end = rest.find(']').ok_or("bad IPv6 reference")?;
        let inner = &rest[..end];
        if inner.is_empty()
            || !inner
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err("bad IPv6 reference");
        }
        let after = &rest[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err("bad host"),
        };
        (&text[..end + 2], port)
    } else {
        match text.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (text, None),
        }
    };
    if !host.starts_with('[')
        && (host.is_empty()
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            || host.starts_with(['-', '.']))
    {
        return Err("bad host");
    }
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse::<u16>().map_err(|_| "port out of range")?)
        }
        Some(_) => return Err("bad port"),
    };
    Ok((host, port))
}

/// Index of the first `c` outside quoted strings and `<...>`, if any.
fn find_top_level(s: &str, target: char) -> Option<usize> {
    let (mut quoted, mut escaped, mut depth) = (false, false, 0u32);
    for (i, c) in s.char_indices() {
        if quoted {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => quoted = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            '<' => depth += 1,
            '>' => depth = depth.saturating_sub(1),
            c if c == target && depth == 0 => return Some(i),
            _ => {}
        }
    }
    None
}

/// Splits a header value at top-level commas (outside quotes and angle brackets), trimming each part.
/// Empty parts are kept so the caller can refuse them.
pub fn split_commas(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = value;
    while let Some(i) = find_top_level(rest, ',') {
        parts.push(rest[..i].trim_matches(is_lws));
        rest = &rest[i + 1..];
    }
    parts.push(rest.trim_matches(is_lws));
    parts
}

/// Reads a quoted string at the start of `s` (which begins with `"`); returns its length in bytes
/// including both quotes.
fn quoted_len(s: &str) -> Result<usize, Why> {
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Ok(i + 1),
            '\r' | '\n' => return Err("bad quoted string"),
            _ => {}
        }
    }
    Err("unterminated quoted string")
}

/// Checks `*( SEMI generic-param )` and returns the parameters as (name, value) pairs, with the white
/// space around `;` and `=` removed and quotes kept on quoted values.
pub fn params(text: &str) -> Result<Vec<(&str, &str)>, Why> {
    let mut out = Vec::new();
    let mut rest = text.trim_start_matches(is_lws);
    while !rest.is_empty() {
        rest = rest.strip_prefix(';').ok_or("junk after value")?;
        let end = find_top_level(rest, ';').unwrap_or(rest.len());
        let param = &rest[..end];
        rest = &rest[end..];
        let (name, value) = match param.split_once('=') {
            Some((n, v)) => (n.trim_matches(is_lws), Some(v.trim_matches(is_lws))),
            None => (param.trim_matches(is_lws), None),
        };
        if !is_token(name) {
            return Err("bad parameter name");
        }
        let value = match value {
            None => "",
            Some(v) if v.starts_with('"') => {
                if quoted_len(v)? != v.len() {
                    return Err("junk after quoted parameter");
                }
                v
            }
            Some(v) if v.starts_with('[') => {
                host_port(v)?;
                v
            }
            Some(v) if is_token(v) => v,
            // Via's `received` carries an IPv6 address without brackets (RFC 3261 25.1 `IPv6address`,
            // RFC 5118 4.5), which registrars and proxies send to IPv6 clients.
            Some(v) if v.parse::<std::net::Ipv6Addr>().is_ok() => v,
            Some(_) => return Err("bad parameter value"),
        };
        out.push((name, value));
    }
    Ok(out)
}

/// A `name-addr` or `addr-spec` with its header parameters (From, To, Contact, Route, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// Display name as written (quotes kept), if any.
    pub display: Option<&'a str>,
    /// The URI.
    pub uri: &'a str,
    /// Header parameters such as `tag`.
    pub params: Vec<(&'a str, &'a str)>,
}

impl<'a> NameAddr<'a> {
    /// The value of parameter `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&'a str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

/// Parses one `( name-addr / addr-spec ) *( SEMI param )`.
pub fn name_addr(value: &str) -> Result<NameAddr<'_>, Why> {
    let value = value.trim_matches(is_lws);
    let (display, uri, rest) = if value.starts_with('"') {
        let len = quoted_len(value)?;
        let after = value[len..].trim_start_matches(is_lws);
        let open = len + (value.len() - len - after.len());
        if !after.starts_with('<') {
            return Err("display name without <URI>");
        }
        let (uri, rest) = bracketed(&value[open..])?;
        (Some(&value[..len]), uri, rest)
    } else if let Some(open) = value.find('<') {
        let display = value[..open].trim_matches(is_lws);
        // An unquoted display name is a sequence of tokens separated by white space.
        if !display.split(is_lws).filter(|w| !w.is_empty()).all(is_token) {
            return Err("bad display name");
        }
        let (uri, rest) = bracketed(&value[open..])?;
        ((!display.is_empty()).then_some(display), uri, rest)
    } else {
        // addr-spec: a URI with a comma, question mark or semicolon must be in angle brackets
        // (RFC 3261 20), so the URI ends at the first semicolon.
        let end = value.find(';').unwrap_or(value.len());
        let uri = value[..end].trim_matches(is_lws);
        if uri.contains(['?', ',']) || uri.contains(is_lws) {
            return Err("URI with ? or , not in <>");
        }
        (None, uri, &value[end..])
    };
    check_uri(uri)?;
    Ok(NameAddr {
        display,
        uri,
        params: params(rest)?,
    })
}

/// Reads `<URI>` at the start of `s`: no white space inside the brackets (RFC 4475 3.1.2.14).
fn bracketed(s: &str) -> Result<(&str, &str), Why> {
    let close = s.find('>').ok_or("unclosed <")?;
    let uri = &s[1..close];
    if uri.is_empty() || uri.contains(char::is_whitespace) {
        return Err("white space inside <URI>");
    }
    Ok((uri, &s[close + 1..]))
}

/// One `via-parm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via<'a> {
    /// Transport such as `UDP`, `TCP`, `TLS` (upper-cased by the sender, compared case-insensitively).
    pub transport: &'a str,
    /// Host of the sent-by.
    pub host: &'a str,
    /// Port of the sent-by.
    pub port: Option<u16>,
    /// Parameters (`branch`, `rport`, `received`, ...).
    pub params: Vec<(&'a str, &'a str)>,
}

impl<'a> Via<'a> {
    /// The value of parameter `name` (case-insensitive); `Some("")` when present without a value.
    pub fn param(&self, name: &str) -> Option<&'a str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

/// Parses one `via-parm`: `sent-protocol LWS sent-by *( SEMI via-params )`, with the LWS that RFC 3261
/// allows around `/`, `:`, `;` and `=`.
pub fn via(value: &str) -> Result<Via<'_>, Why> {
    let mut rest = value.trim_matches(is_lws);
    let mut parts = [""; 3];
    for (i, part) in parts.iter_mut().enumerate() {
        if i > 0 {
            rest = rest
                .trim_start_matches(is_lws)
                .strip_prefix('/')
                .ok_or("bad sent-protocol")?
                .trim_start_matches(is_lws);
        }
        let end = rest.find(|c: char| !is_token_char(c)).unwrap_or(rest.len());
        *part = &rest[..end];
        if part.is_empty() {
            return Err("bad sent-protocol");
        }
        rest = &rest[end..];
    }
    if !parts[0].eq_ignore_ascii_case("SIP") || parts[1] != "2.0" {
        return Err("unsupported protocol in Via");
    }
    let rest = rest.trim_start_matches(is_lws);
    let end = rest.find(';').unwrap_or(rest.len());
    // sent-by = host [ COLON port ], where COLON may carry white space around it.
    let sent_by: String = rest[..end].chars().filter(|c| !is_lws(*c)).collect();
    let (host_len, port) = {
        let (host, port) = host_port(&sent_by)?;
        (host.len(), port)
    };
    let host_start = rest.len() - rest.trim_start_matches(is_lws).len();
    let host = &rest[host_start..host_start + host_len];
    Ok(Via {
        transport: parts[2],
        host,
        port,
        params: params(&rest[end..])?,
    })
}

/// Checks a `Call-ID`: `word [ "@" word ]`.
pub fn check_call_id(value: &str) -> Result<(), Why> {
    let word = |w: &str| {
        !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-.!%*_+`'~()<>:\\\"/[]?{}".contains(c))
    };
    let ok = match value.split_once('@') {
        Some((a, b)) => word(a) && word(b),
        None => word(value),
    };
    ok.then_some(()).ok_or("bad Call-ID")
}

/// Parses `CSeq: 1*DIGIT LWS Method`; the number must be below 2^31 (RFC 3261 8.1.1.5).
pub fn cseq(value: &str) -> Result<(u32, &str), Why> {
    let mut words = value.split(is_lws).filter(|w| !w.is_empty());
    let (Some(number), Some(method), None) = (words.next(), words.next(), words.next()) else {
        return Err("bad CSeq");
    };
    let number = small_number(number, (1 << 31) - 1).ok_or("CSeq number out of range")?;
    if !is_token(method) {
        return Err("bad CSeq method");
    }
    Ok((
        u32::try_from(number).map_err(|_| "CSeq number out of range")?,
        method,
    ))
}

/// `1*DIGIT` no larger than `max`; leading zeros allowed, overlong values refused without overflow.
pub fn small_number(text: &str, max: u64) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = text.trim_start_matches('0');
    if digits.len() > 19 {
        return None;
    }
    let n = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    (n <= max).then_some(n)
}

/// Checks an `rfc1123-date` as SIP restricts it: `wkday "," SP date1 SP time SP "GMT"`.
pub fn check_date(value: &str) -> Result<(), Why> {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let bad = "bad Date";
    let (day, rest) = value.split_once(", ").ok_or(bad)?;
    let fields: Vec<&str> = rest.split(' ').collect();
    let [dd, month, year, time, zone] = fields.as_slice() else {
        return Err(bad);
    };
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let time_ok = time.len() == 8 && time.split(':').all(|t| digits(t, 2)) && time.split(':').count() == 3;
    let ok = DAYS.contains(&day)
        && digits(dd, 2)
        && MONTHS.contains(month)
        && digits(year, 4)
        && time_ok
        && *zone == "GMT";
    ok.then_some(()).ok_or(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_uris() {
        let u = sip_uri("sip:alice:pw@[::1]:5070;transport=tcp;lr?subject=hi").expect("valid");
        assert_eq!((u.user, u.host, u.port), (Some("alice"), "[::1]", Some(5070)));
        assert_eq!(u.param("transport"), Some("tcp"));
        assert_eq!(u.param("lr"), Some(""));
        assert!(u.has_headers);
        assert!(sip_uri("sip:user;par=u%40example.net@example.com").is_ok());
        assert!(sip_uri("sip:%75se%72@example.com").is_ok());
        assert!(sip_uri("sip:u%zz@example.com").is_err());
        assert!(sip_uri("sip:@example.com").is_err());
        assert!(sip_uri("sip:user@example.com:99999").is_err());
        assert!(sip_uri("sip:user@exa mple.com").is_err());
        assert!(sip_uri("sip:user@host;;").is_err());
        assert!(check_uri("<sip:user@example.com>").is_err());
        assert!(check_uri("isbn:2983792873").is_ok());
        assert!(check_uri("tel:+15551234567").is_ok());
    }

    #[test]
    fn name_addrs() {
        let n = name_addr("\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>   ;   tag = 98asjd8")
            .expect("valid");
        assert_eq!(n.uri, "sip:jdrosen@example.com");
        assert_eq!(n.param("tag"), Some("98asjd8"));
        let n = name_addr("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n").expect("valid");
        assert_eq!((n.display, n.param("TAG")), (None, Some("1918181833n")));
        assert_eq!(
            name_addr("caller<sip:caller@example.com>;tag=323")
                .expect("valid")
                .display,
            Some("caller")
        );
        assert!(name_addr("\"Mr. J. User <sip:j.user@example.com>").is_err());
        assert!(name_addr("Bell, Alexander <sip:a.g.bell@example.com>;tag=43").is_err());
        assert!(name_addr("\"Watson, Thomas\" < sip:t.watson@example.org >").is_err());
        assert!(name_addr("sip:user@example.com?Route=%3Csip:sip.example.com%3E").is_err());
        assert!(name_addr("\"Joe\" <sip:joe@example.org>;;;;").is_err());
    }

    #[test]
    fn vias() {
        let v = via("SIP  /    2.0   / UDP  192.168.255.111   ; branch= z9hG4bK30239")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((v.transport, v.host, v.port), ("UDP", "192.168.255.111", None));
        assert_eq!(v.param("branch"), Some("z9hG4bK30239"));
        let v = via("SIP/2.0/UDP 127.0.0.1 : 5080;rport;branch=z9hG4bKx").expect("valid");
        assert_eq!((v.port, v.param("rport")), (Some(5080), Some("")));
        // An IPv6 client's Via as a registrar returns it: `received` unbracketed (RFC 5118 4.5).
        let v = via("SIP/2.0/UDP [fd00:88::2]:50811;branch=z9hG4bKx;rport=50811;received=fd00:88::2")
            .expect("valid");
        assert_eq!(
            (v.host, v.param("received")),
            ("[fd00:88::2]", Some("fd00:88::2"))
        );
        assert!(via("SIP/2.0/UDP 10.0.0.1;received=fd00::zz").is_err());
        assert!(via("SIP/2.0/UDP 192.0.2.15;;").is_err());
        assert!(via("SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw").is_err());
        assert!(via("SIP/2.0/UDP").is_err());
    }

    #[test]
    fn scalars() {
        assert_eq!(
            cseq("0009\n  INVITE".replace('\n', " ").as_str()),
            Ok((9, "INVITE"))
        );
        assert!(cseq("36893488147419103232 REGISTER").is_err());
        assert!(cseq("2147483648 INVITE").is_err());
        assert_eq!(small_number("0068", 255), Some(68));
        assert_eq!(small_number("300", 255), None);
        assert!(check_date("Sat, 13 Nov 2010 23:29:00 GMT").is_ok());
        assert!(check_date("Fri, 01 Jan 2010 16:00:00 EST").is_err());
        assert!(check_call_id("intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{").is_ok());
        assert!(check_call_id("a b").is_err());
        assert_eq!(
            split_commas("<sip:a;x=1,2>, \"b,c\" <sip:b>"),
            vec!["<sip:a;x=1,2>", "\"b,c\" <sip:b>"]
        );
    }
}
