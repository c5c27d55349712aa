//! Set-up through the library, as the CLI does it: users, albums, memberships, clients and key
//! rotation.

use super::server::TestApp;

impl TestApp {
    pub async fn add_user(&self, name: &str, password: &str, admin: bool) {
        tessera::domain::accounts::add_user(&self.state, name, password, admin)
            .await
            .expect("add user");
    }

    pub async fn add_album(&self, id: &str) {
        tessera::domain::accounts::add_album(&self.state, id, None)
            .await
            .expect("add album");
    }

    pub async fn grant(&self, album: &str, user: &str, perms: &str) {
        tessera::domain::accounts::grant_album(&self.state, album, user, perms)
            .await
            .expect("grant");
    }

    /// Registers a client; returns its secret (None for public clients).
    pub async fn add_client(
        &self,
        id: &str,
        public: bool,
        grant_types: Option<&str>,
        scope: Option<&str>,
        introspect: bool,
    ) -> Option<String> {
        tessera::domain::clients::register(
            &self.state,
            tessera::domain::clients::NewClient {
                id: id.into(),
                public,
                grant_types: grant_types.map(str::to_string),
                scope: scope.map(str::to_string),
                introspect,
            },
        )
        .await
        .expect("register client")
        .client_secret
    }

    /// Registers a confidential client that may not introspect; returns its secret.
    pub async fn add_confidential(
        &self,
        id: &str,
        grant_types: Option<&str>,
        scope: Option<&str>,
    ) -> String {
        self.add_client(id, false, grant_types, scope, false)
            .await
            .expect("a confidential client's secret")
    }

    /// A resource-server client allowed to introspect; returns (id, secret).
    pub async fn add_resource_server(&self) -> (String, String) {
        let secret = self
            .add_client("rs", false, Some("client_credentials"), None, true)
            .await
            .expect("secret");
        ("rs".into(), secret)
    }

    /// Rotates in a new ES256 signing key in the key directory, as `tessera keys rotate` does;
    /// returns its kid. The running server sees it after a reload.
    pub fn rotate_key_files(&self) -> String {
        tessera::tokens::keys::KeyDir::new(self.dir.path().join("keys"))
            .rotate(tessera::tokens::keys::Algorithm::Es256, self.clock.now())
            .expect("rotate the signing key")
    }

    /// The standard fixture: user alice (password "alice-pw"), album a1 where she holds
    /// read,write,download,share; returns nothing.
    pub async fn alice_with_album(&self) {
        self.add_user("alice", "alice-pw", false).await;
        self.add_album("a1").await;
        self.grant("a1", "alice", "read,write,download,share").await;
    }
}
