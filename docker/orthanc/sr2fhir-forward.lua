-- Orthanc: forward every Structured Report it stores to sr2fhir, whatever sent it.
--
-- Needs, in Orthanc's configuration (see docs/pacs-recipes.md):
--   "DicomModalities": { "sr2fhir": { "AET": "SR2FHIR", "Host": "<gateway>", "Port": 11112 } },
--   "LuaScripts": [ "/etc/orthanc/sr2fhir-forward.lua" ]
-- Only SR SOP classes (1.2.840.10008.5.1.4.1.1.88.*) go: images stay in the PACS, and sr2fhir
-- would refuse them at association negotiation anyway.

SR2FHIR_MODALITY = 'sr2fhir'
SR_CLASS_PREFIX = '1.2.840.10008.5.1.4.1.1.88.'

function IsStructuredReport(tags)
  local sopClass = tags['SOPClassUID']
  return sopClass ~= nil and string.sub(sopClass, 1, string.len(SR_CLASS_PREFIX)) == SR_CLASS_PREFIX
end

function OnStoredInstance(instanceId, tags, metadata, origin)
  if not IsStructuredReport(tags) then
    return
  end
  -- Orthanc runs the C-STORE after this function returns, as a job of its Lua engine; it is
  -- not retried. A failure is logged by Orthanc as
  --   Lua: Unable to send instance <id> to modality "SR2FHIR": ...
  -- and the instance stays in Orthanc, to be sent again (POST /modalities/sr2fhir/store).
  SendToModality(instanceId, SR2FHIR_MODALITY)
  print('sr2fhir: queued instance ' .. instanceId)
end
