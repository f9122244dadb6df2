// Users: the API users, their roles, projects and status (admins only). Keys are made, revoked and
// rotated with `crispml users` on the server's machine.

import { all } from "../api.js";
import { h, note, section, table, when } from "../ui.js";

export async function render(page) {
  const users = await all("/api/v1/users");
  page.append(
    section(
      `API users: ${users.length}`,
      users.length
        ? table("API users", [
          ["name", "Name"],
          ["role", "Role"],
          ["projects", "Projects", (p) => (p ? p.join(", ") : "every project")],
          ["status", "Status"],
          ["created_by", "Created by"],
          ["created_at", "Created", when],
          ["rotated_at", "Key rotated", when],
          ["revoked_at", "Revoked", when],
        ], users)
        : note("No API users: this server does not ask for keys."),
      h("p", { class: "help" }, "Create, revoke and rotate keys with ", h("code", {}, "crispml users"), " on the server's machine."),
    ),
  );
}
