#include "protocol/validate.hpp"

#include <cmath>
#include <map>
#include <memory>
#include <vector>

#include <rapidjson/pointer.h>
#include <rapidjson/schema.h>

#include "protocol/schemas.hpp"
#include "protocol/status.hpp"

namespace scopehub::protocol {

namespace {

// -- the compiled schemas -----------------------------------------------------

struct compiled_schema {
  const rapidjson::Value* source; // the schema's JSON, for error messages
  std::unique_ptr<rapidjson::SchemaDocument> schema;
  // Reused by every validation on this thread (Reset() between them): a
  // fresh validator costs its stacks' allocations on every client message.
  // Validations never nest, so one per schema is enough.
  mutable std::unique_ptr<rapidjson::SchemaValidator> validator;

  rapidjson::SchemaValidator& fresh_validator() const {
    if (!validator)
      validator = std::make_unique<rapidjson::SchemaValidator>(*schema);
    else
      validator->Reset();
    return *validator;
  }
};

// Owns the parsed schema files and one SchemaDocument per schema name.
class schema_registry {
 public:
  schema_registry() {
    add_whole("envelope", "envelope.json");
    add_members("client", "client_payloads.json");
    add_members("server", "server_payloads.json");
    add_members("parameters", "parameters.json");
  }

  const compiled_schema* find(std::string_view name) const {
    auto i = schemas_.find(name);
    return i != schemas_.end() ? &i->second : nullptr;
  }

 private:
  const rapidjson::Document& load(const char* file) {
    auto text = schemas::embedded(file);
    auto& doc = files_.emplace_back(std::make_unique<rapidjson::Document>());
    doc->Parse(text.data(), text.size());
    // A broken schema file is a build defect: fail loudly in every test.
    if (doc->HasParseError() || !doc->IsObject()) doc->SetObject();
    return *doc;
  }

  void add(std::string name, const rapidjson::Value& source) {
    auto schema = std::make_unique<rapidjson::SchemaDocument>(source);
    schemas_.emplace(std::move(name),
                     compiled_schema{&source, std::move(schema), nullptr});
  }

  void add_whole(const char* name, const char* file) { add(name, load(file)); }

  void add_members(const char* prefix, const char* file) {
    const auto& doc = load(file);
    for (auto i = doc.MemberBegin(); i != doc.MemberEnd(); ++i)
      if (i->value.IsObject())
        add(std::string{prefix} + "/" + i->name.GetString(), i->value);
  }

  std::vector<std::unique_ptr<rapidjson::Document>> files_;
  std::map<std::string, compiled_schema, std::less<>> schemas_;
};

// One registry per thread: RapidJSON 1.1's GenericRegex (the schemas'
// `pattern` keywords) keeps its match state in mutable members, so one
// SchemaDocument shared by two threads validating at once corrupts it
// (scopebench's 32-client command run crashed the server in
// GenericRegex::SearchWithAnchoring).
const schema_registry& registry() {
  static thread_local const schema_registry instance;
  return instance;
}

// -- error messages -----------------------------------------------------------

std::string json_text(const rapidjson::Value& x) { return to_json(x); }

// "payload" + "/parameters/commands/3/dec" ->
// "payload.parameters.commands[3].dec"
std::string dotted(std::string_view prefix, const rapidjson::Pointer& ptr) {
  std::string result{prefix};
  for (size_t i = 0; i < ptr.GetTokenCount(); ++i) {
    const auto& token = ptr.GetTokens()[i];
    if (token.index != rapidjson::kPointerInvalidIndex) {
      result += '[';
      result += std::to_string(token.index);
      result += ']';
    } else {
      if (!result.empty()) result += '.';
      result.append(token.name, token.length);
    }
  }
  return result;
}

std::string join_path(std::string path, std::string_view name) {
  if (!path.empty()) path += '.';
  path += name;
  return path;
}

std::string type_phrase(const rapidjson::Value& type) {
  auto one = [](std::string_view t) -> std::string {
    if (t == "integer" || t == "object" || t == "array")
      return std::string{"an "} + std::string{t};
    if (t == "null") return "null";
    return std::string{"a "} + std::string{t};
  };
  if (type.IsString()) return one(type.GetString());
  std::string result;
  if (type.IsArray()) {
    for (rapidjson::SizeType i = 0; i < type.Size(); ++i) {
      if (!type[i].IsString()) continue;
      if (!result.empty()) result += i + 1 == type.Size() ? " or " : ", ";
      result += one(type[i].GetString());
    }
  }
  return result.empty() ? "of another type" : result;
}

bool flag(const rapidjson::Value& schema, const char* name) {
  auto i = schema.FindMember(name);
  return i != schema.MemberEnd() && i->value.IsBool() && i->value.GetBool();
}

std::string member_text(const rapidjson::Value& schema, const char* name) {
  auto i = schema.FindMember(name);
  return i != schema.MemberEnd() ? json_text(i->value) : std::string{"?"};
}

// Words for a failed keyword; `schema` is the failing subschema and `doc`
// the failing value (may be null when not found).
std::string describe(std::string_view keyword, const rapidjson::Value& schema,
                     const rapidjson::Value* doc) {
  // Length bounds are kept out of `pattern` (RapidJSON's regex engine
  // expands {1,64} into a slow automaton); "x-match" names the whole rule
  // so that all three keywords read as one.
  if (keyword == "pattern" || keyword == "minLength"
      || keyword == "maxLength") {
    auto m = schema.FindMember("x-match");
    if (m != schema.MemberEnd() && m->value.IsString())
      return std::string{"must match "} + m->value.GetString();
  }
  if (keyword == "type") {
    auto expected = schema.FindMember("type");
    if (expected != schema.MemberEnd() && expected->value.IsString()
        && std::string_view{expected->value.GetString()} == "integer"
        && doc != nullptr && doc->IsDouble()) {
      auto d = doc->GetDouble();
      if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) >= 9.2e18)
        return "is out of range";
    }
    return "must be "
           + (expected != schema.MemberEnd() ? type_phrase(expected->value)
                                             : std::string{"of another type"});
  }
  if (keyword == "enum") {
    std::string result = "must be one of ";
    auto values = schema.FindMember("enum");
    if (values != schema.MemberEnd() && values->value.IsArray()) {
      for (rapidjson::SizeType i = 0; i < values->value.Size(); ++i) {
        if (i > 0) result += ", ";
        result += json_text(values->value[i]);
      }
    }
    return result;
  }
  if (keyword == "minimum")
    return std::string{"must be "}
           + (flag(schema, "exclusiveMinimum") ? "> " : ">= ")
           + member_text(schema, "minimum");
  if (keyword == "maximum")
    return std::string{"must be "}
           + (flag(schema, "exclusiveMaximum") ? "< " : "<= ")
           + member_text(schema, "maximum");
  if (keyword == "minLength" || keyword == "minItems"
      || keyword == "minProperties") {
    if (member_text(schema, keyword.data()) == "1") return "must not be empty";
  }
  if (keyword == "minLength")
    return "must be at least " + member_text(schema, "minLength")
           + " characters";
  if (keyword == "maxLength")
    return "must be at most " + member_text(schema, "maxLength")
           + " characters";
  if (keyword == "minItems")
    return "must have at least " + member_text(schema, "minItems") + " items";
  if (keyword == "maxItems")
    return "must have at most " + member_text(schema, "maxItems") + " items";
  if (keyword == "minProperties")
    return "must have at least " + member_text(schema, "minProperties")
           + " fields";
  if (keyword == "pattern") {
    auto i = schema.FindMember("pattern");
    std::string p = i != schema.MemberEnd() && i->value.IsString()
                      ? i->value.GetString()
                      : "?";
    if (!p.empty() && p.front() == '^') p.erase(0, 1);
    if (!p.empty() && p.back() == '$') p.pop_back();
    return "must match " + p;
  }
  if (keyword == "additionalProperties") return "is not an allowed field";
  return "is invalid (" + std::string{keyword} + ")";
}

// The first name of the schema's `required` list that `doc` lacks.
std::string missing_member(const rapidjson::Value& schema,
                           const rapidjson::Value* doc) {
  auto req = schema.FindMember("required");
  if (req == schema.MemberEnd() || !req->value.IsArray() || doc == nullptr
      || !doc->IsObject())
    return "?";
  for (const auto& name : req->value.GetArray())
    if (name.IsString() && !doc->HasMember(name)) return name.GetString();
  return "?";
}

protocol_error schema_error(error_code code, std::string_view path,
                            const compiled_schema& compiled,
                            const rapidjson::SchemaValidator& validator,
                            const rapidjson::Value& root) {
  std::string_view keyword = validator.GetInvalidSchemaKeyword();
  const auto& doc_ptr = validator.GetInvalidDocumentPointer();
  const auto* doc = doc_ptr.Get(root);
  const auto* schema
    = validator.GetInvalidSchemaPointer().Get(*compiled.source);
  static const rapidjson::Value empty_schema{rapidjson::kObjectType};
  if (schema == nullptr || !schema->IsObject()) schema = &empty_schema;
  auto where = dotted(path, doc_ptr);
  if (keyword == "required") {
    where = join_path(std::move(where), missing_member(*schema, doc));
    return {code, where + ": is required", {}};
  }
  auto text = describe(keyword, *schema, doc);
  if (where.empty()) return {code, text, {}};
  return {code, where + ": " + text, {}};
}

// -- parameters
// -----------------------------------------------------------------

std::string schema_name(action a) {
  return "parameters/" + std::string{to_string(a)};
}

// Adds the `default` of each schema property the object lacks.
void fill_defaults(const rapidjson::Value& schema, rapidjson::Value& params,
                   rapidjson::Document::AllocatorType& alloc) {
  auto props = schema.FindMember("properties");
  if (props == schema.MemberEnd() || !props->value.IsObject()) return;
  for (auto i = props->value.MemberBegin(); i != props->value.MemberEnd();
       ++i) {
    auto dflt = i->value.FindMember("default");
    if (dflt == i->value.MemberEnd() || params.HasMember(i->name)) continue;
    rapidjson::Value name{i->name, alloc};
    rapidjson::Value value{dflt->value, alloc};
    params.AddMember(name, value, alloc);
  }
}

std::string step_path(std::string_view path, rapidjson::SizeType i) {
  return join_path(std::string{path}, "commands") + "[" + std::to_string(i)
         + "]";
}

// The action a batch step names; the batch schema has checked that it is
// a string.
std::optional<action> step_action(const rapidjson::Value& step) {
  const auto& name = step["action"];
  return action_from_string({name.GetString(), name.GetStringLength()});
}

std::optional<protocol_error> check_parameters(action a,
                                               const rapidjson::Value& params,
                                               std::string_view path);

// Checks the steps of a batch whose outer shape passed the schema.
std::optional<protocol_error> check_steps(const rapidjson::Value& commands,
                                          std::string_view path) {
  static const rapidjson::Value no_parameters{rapidjson::kObjectType};
  for (rapidjson::SizeType i = 0; i < commands.Size(); ++i) {
    const auto& step = commands[i];
    auto where = step_path(path, i);
    auto a = step_action(step);
    if (!a)
      return protocol_error{error_code::unknown_action,
                            where + ".action: unknown action "
                              + json_text(step["action"]),
                            {}};
    if (*a == action::batch)
      return protocol_error{error_code::invalid_parameters,
                            where + ".action: a batch cannot contain a batch",
                            {}};
    if (is_server_action(*a))
      return protocol_error{error_code::invalid_parameters,
                            where + ".action: " + std::string{to_string(*a)}
                              + " is a server action, not a batch step",
                            {}};
    auto params = step.FindMember("parameters");
    const auto& value
      = params != step.MemberEnd() ? params->value : no_parameters;
    if (auto err = check_parameters(*a, value, where + ".parameters"))
      return err;
  }
  return std::nullopt;
}

std::optional<protocol_error> check_parameters(action a,
                                               const rapidjson::Value& params,
                                               std::string_view path) {
  if (auto err = check_schema(schema_name(a), params, path,
                              error_code::invalid_parameters))
    return err;
  if (a == action::batch) return check_steps(params["commands"], path);
  return std::nullopt;
}

// Fills defaults into parameters that passed check_parameters.
void fill_parameters(action a, rapidjson::Value& params,
                     rapidjson::Document::AllocatorType& alloc) {
  fill_defaults(*registry().find(schema_name(a))->source, params, alloc);
  if (a != action::batch) return;
  for (auto& step : params["commands"].GetArray()) {
    if (!step.HasMember("parameters"))
      step.AddMember("parameters", rapidjson::Value{rapidjson::kObjectType},
                     alloc);
    fill_parameters(*step_action(step), step["parameters"], alloc);
  }
}

} // namespace

std::optional<protocol_error> check_schema(std::string_view name,
                                           const rapidjson::Value& x,
                                           std::string_view path,
                                           error_code code) {
  const auto* compiled = registry().find(name);
  if (compiled == nullptr)
    return protocol_error{
      error_code::internal, "no schema named " + std::string{name}, {}};
  auto& validator = compiled->fresh_validator();
  if (x.Accept(validator)) return std::nullopt;
  return schema_error(code, path, *compiled, validator, x);
}

std::optional<protocol_error>
validate_parameters(action a, const rapidjson::Value& params,
                    std::string_view path) {
  return check_parameters(a, params, path);
}

std::optional<protocol_error>
normalize_parameters(action a, rapidjson::Value& params,
                     rapidjson::Document::AllocatorType& alloc,
                     std::string_view path) {
  if (auto err = check_parameters(a, params, path)) return err;
  fill_parameters(a, params, alloc);
  return std::nullopt;
}

} // namespace scopehub::protocol
