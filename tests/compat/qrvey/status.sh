curl --location 'https://{postdataurl}/{JobID}/status' \
--header 'x-api-key: {datarouter-api-key}'
