//! Man pages (roff, via clap_mangen): tallyfy-groups(1) and one page per subcommand. Pure: builds
//! the pages in memory; the caller prints or writes them.

use clap::CommandFactory;

/// One man page: its file name (`tallyfy-groups-plan.1`) and its roff text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// `tallyfy-groups-plan.1`.
    pub file_name: String,
    /// The page.
    pub roff: Vec<u8>,
}

/// Sections the main page adds after clap's: what the exit codes mean, the environment it reads,
/// where to read more.
const MAIN_PAGE_EXTRA: &str = r#".SH "EXIT STATUS"
.TP
\fB0\fR
Success; for \fBplan \-\-detailed\-exitcode\fR, no changes.
.TP
\fB1\fR
Error: invalid YAML, unknown users, configuration, API failure, a partial apply, a usage error.
.TP
\fB2\fR
\fBplan \-\-detailed\-exitcode\fR found changes.
.TP
\fB3\fR
Refused: a safety guard tripped, a saved plan is stale, or \fBapply\fR had neither a terminal nor \fB\-\-auto\-approve\fR.
.TP
\fB130\fR
interrupted (Ctrl\-C or SIGTERM); an \fBapply\fR's report was still printed and written.
.PP
With a workspace file (\fBtallyfy\-groups.yaml\fR), the most severe across its targets: 130, then 3, then 1, then 2, then 0; the last line on standard error names the targets it comes from.
.SH ENVIRONMENT
.TP
\fBTALLYFY_CLIENT_ID\fR, \fBTALLYFY_CLIENT_SECRET\fR
OAuth client credentials (the secret also from \fB\-\-client\-secret\-file\fR), recommended for pipelines: exchanged at start for an access token, and again when Tallyfy refuses a token during a run.
.TP
\fBTALLYFY_TOKEN_URL\fR
Where client credentials are exchanged (or \fB\-\-token\-url\fR); by default the API URL with \fB/api\fR replaced by \fB/oauth/token\fR.
.TP
\fBTALLYFY_ACCESS_TOKEN\fR, \fBTALLYFY_API_TOKEN\fR
A personal access token (or \fB\-\-token\-file\fR); Tallyfy invalidates it when its user logs out, and after six months. Set one kind of credentials, not both. No secret is ever printed, logged, or written to a plan or report.
.TP
\fBTALLYFY_ORG_ID\fR
The organization id (or \fB\-\-org\fR).
.TP
\fIPREFIX\fR\fB_CLIENT_ID\fR, \fIPREFIX\fR\fB_CLIENT_SECRET\fR, \fIPREFIX\fR\fB_ACCESS_TOKEN\fR, \fIPREFIX\fR\fB_TOKEN_URL\fR
With a workspace file, each target's credentials, under the prefix its \fBcredentials_env\fR names (default \fBTALLYFY_\fR and the target's name in capitals, e.g. \fBTALLYFY_STAGING_CLIENT_ID\fR); the single\-organization variables are not read for targets.
.TP
\fBTALLYFY_API_URL\fR, \fBTALLYFY_BASE_URL\fR
The API base URL (or \fB\-\-api\-url\fR).
.TP
\fBTALLYFY_GROUPS_NOTIFY_URL\fR
The webhook of \fB\-\-notify\fR (\fBplan\fR, \fBapply\fR): a secret, never printed.
.TP
\fBGITHUB_TOKEN\fR, \fBGITLAB_TOKEN\fR
The tokens of \fBcomment github\fR and \fBcomment gitlab\fR. They are never printed.
.TP
\fBNO_COLOR\fR
When set and not empty, \fB\-\-color auto\fR does not color.
.TP
\fBTALLYFY_GROUPS_LOG\fR
A log filter (tracing's \fBEnvFilter\fR syntax) that replaces the one \fB\-v\fR and \fB\-q\fR choose.
.TP
\fBSSL_CERT_FILE\fR, \fBSSL_CERT_DIR\fR
Where the system's CA certificates are, when not in the usual place; HTTPS is verified against them.
.SH FILES
.TP
\fBgroups.yaml\fR
The desired groups, read when no \fB\-f\fR is given.
.TP
\fB.tallyfy\-sandbox/state.json\fR
The embedded sandbox's state (\fB\-\-sandbox\fR).
.SH "SEE ALSO"
\fBtallyfy\-groups\-validate\fR(1), \fBtallyfy\-groups\-plan\fR(1), \fBtallyfy\-groups\-apply\fR(1), \fBtallyfy\-groups\-export\fR(1), \fBtallyfy\-groups\-comment\fR(1), \fBtallyfy\-groups\-report\-access\fR(1), \fBtallyfy\-groups\-sandbox\fR(1)
.PP
The documentation: https://github.com/tallyfy\-groups/tallyfy\-groups/tree/main/docs
"#;

/// The main page, tallyfy-groups(1).
pub fn main_page() -> Page {
    let cmd = crate::cli::Cli::command().disable_help_subcommand(true);
    let mut page = render(cmd);
    page.roff.extend_from_slice(MAIN_PAGE_EXTRA.as_bytes());
    page
}

/// The main page and one page per (visible) subcommand, main page first; a subcommand's own
/// subcommands (`comment github`) follow it, each on its page (`tallyfy-groups-comment-github.1`).
pub fn all_pages() -> Vec<Page> {
    let mut cmd = crate::cli::Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut pages = vec![main_page()];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        pages.push(render(sub.clone()));
        for nested in sub.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
            pages.push(render(nested.clone()));
        }
    }
    pages
}

fn render(cmd: clap::Command) -> Page {
    let man = clap_mangen::Man::new(cmd);
    let mut roff = Vec::new();
    // Rendering into a Vec cannot fail: the only errors would be the writer's.
    let _ = man.render(&mut roff);
    Page { file_name: man.get_filename(), roff }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn main_page_names_the_commands_exit_codes_and_environment() {
        let page = main_page();
        assert_eq!(page.file_name, "tallyfy-groups.1");
        let text = String::from_utf8(page.roff).expect("UTF-8");
        assert!(text.starts_with(".ie \\n(.g .ds Aq"), "not roff: {}", &text[..80]);
        assert!(text.contains(".TH tallyfy-groups 1"), "{text}");
        for want in ["tallyfy\\-groups\\-plan(1)", "EXIT STATUS", "TALLYFY_ACCESS_TOKEN", "SSL_CERT_FILE", "fB130", "credentials_env"] {
            assert!(text.contains(want), "lacks {want}");
        }
    }

    #[test]
    fn every_subcommand_has_a_page_with_its_options() {
        let pages = all_pages();
        let names: Vec<&str> = pages.iter().map(|p| p.file_name.as_str()).collect();
        let mut want = vec!["tallyfy-groups.1".to_owned()];
        for sub in crate::cli::Cli::command().get_subcommands().filter(|s| !s.is_hide_set()) {
            want.push(format!("tallyfy-groups-{}.1", sub.get_name()));
            want.extend(sub.get_subcommands().map(|n| format!("tallyfy-groups-{}-{}.1", sub.get_name(), n.get_name())));
        }
        assert_eq!(names, want);
        assert!(names.contains(&"tallyfy-groups-comment-github.1"), "{names:?}");
        let github = pages.iter().find(|p| p.file_name == "tallyfy-groups-comment-github.1").expect("comment github's page");
        let github = String::from_utf8(github.roff.clone()).expect("UTF-8");
        assert!(github.contains("\\-\\-body\\-file") && github.contains("GITHUB_REPOSITORY"), "{github}");
        assert!(names.contains(&"tallyfy-groups-plan.1") && !names.contains(&"tallyfy-groups-help.1"), "{names:?}");
        let plan = pages.iter().find(|p| p.file_name == "tallyfy-groups-plan.1").expect("plan's page");
        let plan = String::from_utf8(plan.roff.clone()).expect("UTF-8");
        assert!(plan.contains("\\-\\-detailed\\-exitcode"), "{plan}");
        assert!(plan.contains("TALLYFY_ORG_ID"), "env vars are shown: {plan}");
    }
}
