// `concierge people list|show|rename|merge|forget|export`.
#include <cstdio>

#include "cli/cli.h"
#include "app/services.h"
#include "core/clock.h"
#include "pipeline/person_export.h"
#include "store/audit_log.h"

namespace concierge::cli {

namespace {

nlohmann::json PersonJson(const Person& p) {
  return {{"id", p.id}, {"name", p.display_name},
          {"external_id", p.external_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(p.external_id)},
          {"created", FormatIsoUtc(p.created_ms)}};
}

// Runs `body` with the face collection opened with `access`, reporting open errors.
template <typename Body>
int WithCollection(Context& ctx, Database::Access access, Body body) {
  auto config = ctx.saved_config(access);
  if (!config.ok()) return Fail(ctx, config.status());
  Services services(**config, access);
  auto collection = services.faces();
  if (!collection.ok()) return Fail(ctx, collection.status());
  return body(services, **collection);
}

int RunList(Context& ctx) {
  return WithCollection(ctx, Database::Access::kReadOnly, [&](Services&, FaceCollection& faces) {
    auto people = faces.ListPersons();
    if (!people.ok()) return Fail(ctx, people.status());
    nlohmann::json out = nlohmann::json::array();
    for (const auto& p : *people) {
      auto list = faces.ListFaces(p.id);
      nlohmann::json j = PersonJson(p);
      j["faces"] = list.ok() ? list->size() : 0;
      out.push_back(j);
      if (!ctx.json()) std::printf("%-24s %-32s %zu faces\n", p.id.c_str(), p.display_name.c_str(),
                                   list.ok() ? list->size() : 0);
    }
    if (ctx.json()) PrintJson({{"people", out}});
    return int(kExitOk);
  });
}

int RunShow(Context& ctx, const std::string& id) {
  return WithCollection(ctx, Database::Access::kReadOnly, [&](Services&, FaceCollection& faces) {
    auto person = faces.GetPerson(id);
    if (!person.ok()) return Fail(ctx, person.status());
    auto list = faces.ListFaces(id);
    if (!list.ok()) return Fail(ctx, list.status());
    nlohmann::json j = PersonJson(*person);
    j["faces"] = nlohmann::json::array();
    for (const auto& f : *list)
      j["faces"].push_back({{"id", f.id}, {"image_key", f.image_key}, {"quality", f.quality},
                            {"origin", ToString(f.origin)}, {"created", FormatIsoUtc(f.created_ms)}});
    if (ctx.json()) {
      PrintJson(j);
    } else {
      std::printf("%s (%s), %zu faces\n", person->id.c_str(), person->display_name.c_str(), list->size());
      for (const auto& f : *list)
        std::printf("  face %lld  %s  quality %.2f  %s\n", static_cast<long long>(f.id), ToString(f.origin),
                    f.quality, f.image_key.c_str());
    }
    return int(kExitOk);
  });
}

int RunRename(Context& ctx, const std::string& id, const std::string& name) {
  return WithCollection(ctx, Database::Access::kReadWrite, [&](Services&, FaceCollection& faces) {
    if (Status s = faces.RenamePerson(id, name); !s.ok()) return Fail(ctx, s);
    if (ctx.json()) PrintJson({{"id", id}, {"name", name}});
    else std::printf("renamed %s to %s\n", id.c_str(), name.c_str());
    return int(kExitOk);
  });
}

// As POST /api/v1/people/{into}/merge, audited as done by "cli".
int RunMerge(Context& ctx, const std::string& into, const std::string& from) {
  return WithCollection(ctx, Database::Access::kReadWrite, [&](Services& services,
                                                               FaceCollection&) {
    auto trainer = services.trainer();
    if (!trainer.ok()) return Fail(ctx, trainer.status());
    auto merged = (*trainer)->MergePeople(into, from, "cli");
    if (!merged.ok()) return Fail(ctx, merged.status());
    if (ctx.json())
      PrintJson({{"merged", from},
                 {"into", into},
                 {"faces", merged->faces},
                 {"sightings", merged->sightings}});
    else
      std::printf("merged %s into %s: %lld faces, %lld sightings\n", from.c_str(), into.c_str(),
                  static_cast<long long>(merged->faces),
                  static_cast<long long>(merged->sightings));
    return int(kExitOk);
  });
}

// As POST /api/v1/people/{id}/forget, audited as done by "cli".
int RunForget(Context& ctx, const std::string& id) {
  return WithCollection(ctx, Database::Access::kReadWrite, [&](Services& services,
                                                               FaceCollection&) {
    auto trainer = services.trainer();
    if (!trainer.ok()) return Fail(ctx, trainer.status());
    auto forgotten = (*trainer)->ForgetPerson(id, "cli");
    if (!forgotten.ok()) return Fail(ctx, forgotten.status());
    if (ctx.json())
      PrintJson({{"forgotten", id},
                 {"faces", forgotten->faces},
                 {"sightings", forgotten->sightings},
                 {"images", forgotten->images}});
    else
      std::printf("forgot %s: %lld faces, %lld sightings and %lld pictures erased\n", id.c_str(),
                  static_cast<long long>(forgotten->faces),
                  static_cast<long long>(forgotten->sightings),
                  static_cast<long long>(forgotten->images));
    return int(kExitOk);
  });
}

// A person's data as a ZIP (GDPR access request), audited as done by "cli".
int RunExport(Context& ctx, const std::string& id, const std::string& file) {
  return WithCollection(ctx, Database::Access::kReadWrite, [&](Services& services,
                                                               FaceCollection& faces) {
    auto sightings = services.sightings();
    if (!sightings.ok()) return Fail(ctx, sightings.status());
    auto objects = services.objects();
    if (!objects.ok()) return Fail(ctx, objects.status());
    auto audit = services.audit();
    if (!audit.ok()) return Fail(ctx, audit.status());
    if (Status s = ExportPerson({&faces, *sightings, *objects, *audit}, id, file); !s.ok())
      return Fail(ctx, s);
    if (Status s = (*audit)->Record("cli", "person.export", "person:" + id); !s.ok())
      return Fail(ctx, s);
    if (ctx.json()) PrintJson({{"exported", id}, {"file", file}});
    else std::printf("exported %s to %s\n", id.c_str(), file.c_str());
    return int(kExitOk);
  });
}

}  // namespace

void RegisterPeopleCommands(CLI::App& app, Context& ctx, Runner* slot) {
  static std::string id, name, file, from;
  CLI::App* people = app.add_subcommand("people", "List and manage enrolled people");
  people->require_subcommand(1);
  AddCommand(*people, "list", "List people", slot, [&ctx] { return RunList(ctx); });
  AddCommand(*people, "show", "Show a person and their faces", slot, [&ctx] { return RunShow(ctx, id); })
      ->add_option("id", id, "Person id")->required();
  CLI::App* rename = AddCommand(*people, "rename", "Change a display name", slot,
                                [&ctx] { return RunRename(ctx, id, name); });
  rename->add_option("id", id, "Person id")->required();
  rename->add_option("name", name, "New display name")->required();
  CLI::App* merge = AddCommand(*people, "merge",
                               "Merge a duplicate into a person: its faces, sightings and visits",
                               slot, [&ctx] { return RunMerge(ctx, id, from); });
  merge->add_option("into", id, "The person who stays")->required();
  merge->add_option("from", from, "The duplicate, removed after the merge")->required();
  AddCommand(*people, "forget", "Erase a person: faces, embeddings and pictures", slot,
             [&ctx] { return RunForget(ctx, id); })
      ->add_option("id", id, "Person id")->required();
  CLI::App* exported = AddCommand(*people, "export",
                                  "Write a person's faces, sightings, visits and audit entries "
                                  "to a ZIP (access request)",
                                  slot, [&ctx] { return RunExport(ctx, id, file); });
  exported->add_option("id", id, "Person id")->required();
  exported->add_option("file", file, "The ZIP to write")->required();
}

}  // namespace concierge::cli
