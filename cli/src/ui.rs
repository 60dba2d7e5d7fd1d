//! What the terminal can do: interactivity, prompts, progress.

use std::io::{BufRead, IsTerminal, Write};

/// How this run may talk to a person.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    /// A person can answer prompts (stdin and stderr are terminals and
    /// `--non-interactive` was not given).
    pub interactive: bool,
    /// stderr is a terminal: countdowns and progress bars may redraw.
    pub stderr_tty: bool,
}

impl Ui {
    /// Detects the terminal.
    pub fn detect(non_interactive: bool) -> Ui {
        let stderr_tty = std::io::stderr().is_terminal();
        Ui {
            interactive: !non_interactive && stderr_tty && std::io::stdin().is_terminal(),
            stderr_tty,
        }
    }

    /// Asks a yes/no question on stderr; Enter means yes.
    pub fn confirm(&self, question: &str) -> bool {
        if !self.interactive {
            return false;
        }
        eprint!("{question} [Y/n] ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line).is_err() {
            return false;
        }
        matches!(
            line.trim().to_ascii_lowercase().as_str(),
            "" | "y" | "yes" | "s" | "si" | "sì"
        )
    }

    /// A progress bar on stderr when it is a terminal; hidden otherwise.
    pub fn progress(&self, label: &str) -> indicatif::ProgressBar {
        if !self.stderr_tty {
            return indicatif::ProgressBar::hidden();
        }
        let bar = indicatif::ProgressBar::new(0);
        let style = indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_message(label.to_owned());
        bar
    }
}
