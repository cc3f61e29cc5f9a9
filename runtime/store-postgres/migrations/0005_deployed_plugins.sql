-- Plugins deployed to the cluster through the API (`POST /api/v1/plugins`): the component is
-- an artifact (content-addressed), and every node on the database loads the one deployed under
-- each name (and compiles it once into its own cache). Deploying a name again replaces it.
CREATE TABLE deployed_plugins (
    name        BYTEA  NOT NULL PRIMARY KEY,
    sha256      TEXT   NOT NULL REFERENCES artifacts (sha256),
    deployed_at BIGINT NOT NULL
);
