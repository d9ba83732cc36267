//! Turning a trap into a dead-letter reason a person can act on: a timeout,
//! running out of memory, a panic with its message, or the trap itself.

use super::engine::SandboxLimits;

pub(crate) fn reason(err: &wasmtime::Error, stderr: &[u8], limits: &SandboxLimits) -> String {
    let stderr = String::from_utf8_lossy(stderr);
    if err.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) {
        return format!(
            "timed out: the plugin ran past its {} ms CPU deadline for the batch",
            limits.batch_deadline.as_millis()
        );
    }
    let chain = format!("{err:#}");
    if chain.contains("forcing trap when growing memory") || stderr.contains("memory allocation of")
    {
        return format!(
            "out of memory: the plugin needed more than its {} MiB memory cap",
            limits.memory_bytes >> 20
        );
    }
    if let Some(msg) = panic_message(&stderr) {
        return format!("panicked: {msg}");
    }
    let first = chain.lines().next().unwrap_or("unknown trap").trim();
    if stderr.trim().is_empty() {
        format!("trapped: {first}")
    } else {
        format!(
            "trapped: {first} (stderr: {})",
            stderr.trim().chars().take(500).collect::<String>()
        )
    }
}

/// Pulls the message out of Rust's panic output:
/// `thread '<unnamed>' panicked at src/lib.rs:9:5:\nthe message\nnote: ...`.
fn panic_message(stderr: &str) -> Option<String> {
    let at = stderr.find("panicked at ")?;
    let rest = &stderr[at + "panicked at ".len()..];
    let (location, body) = match rest.split_once(":\n") {
        Some((loc, body)) => (loc.trim(), body),
        None => ("", rest),
    };
    let message: Vec<&str> = body
        .lines()
        .take_while(|l| !l.starts_with("note: "))
        .map(str::trim_end)
        .collect();
    let message = message.join(" ");
    let message = message.trim();
    let message: String = message.chars().take(1000).collect();
    Some(if location.is_empty() {
        message
    } else {
        format!("{message} (at {location})")
    })
}

#[cfg(test)]
mod tests {
    use super::panic_message;

    #[test]
    fn extracts_a_rust_panic_message() {
        let stderr = "thread '<unnamed>' panicked at src/lib.rs:9:5:\npoison event at offset 7\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(
            panic_message(stderr).unwrap(),
            "poison event at offset 7 (at src/lib.rs:9:5)"
        );
        assert_eq!(panic_message("no panic here"), None);
    }
}
