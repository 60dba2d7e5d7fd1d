//! The QR code of `verification_uri_complete`, drawn with Unicode blocks.

/// Renders `data` as a QR code for a terminal; empty when it cannot be
/// encoded (the URI and code are printed as text anyway).
pub fn render(data: &str) -> String {
    match qrcode::QrCode::new(data.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::unicode::Dense1x2>()
            .dark_color(qrcode::render::unicode::Dense1x2::Light)
            .light_color(qrcode::render::unicode::Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_a_block_of_lines() {
        let qr = super::render("http://127.0.0.1:8090/device?user_code=ABCD-EFGH");
        let lines: Vec<_> = qr.lines().collect();
        assert!(lines.len() > 10);
        assert!(
            lines
                .iter()
                .all(|l| l.chars().count() == lines[0].chars().count())
        );
    }
}
