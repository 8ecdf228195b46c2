curl --location 'https://your_qrvey_domain/Prod/dataload/postdata' \
--header 'Content-Type: application/json' \
--header 'x-api-key: <API_KEY>' \
--data-raw '{
  "datasetId": "<DATASET_ID>",
  "documentUpdateMethod": "upsert",
  "data": [
    {
    "ID": "1000101",
    "TENANT_ID": "1000",
    "USER_ID": "<USER_ID>",
    "ACCOUNT_ID": "Qrvey101",
    "ACCOUNT_NAME": "Qrvey - Name Added",
    "STATUS": "ACTIVE",
    "ROLE_NAME": "Portal User Role Changed ",
    "FIRST_NAME": "Dilant",
    "LAST_NAME": "Patel",
    "EMAIL": "dilant.changed@qrvey.com",
    "LASTUPDATED": "2023-07-10T20:48:34.679Z"
    },
    {
    "ID": "1000102",
    "TENANT_ID": "1000",
    "USER_ID": "dilant@qrvey.com",
    "ACCOUNT_ID": "Qrvey101",
    "ACCOUNT_NAME": "Qrvey - the Second",
    "STATUS": "ACTIVE",
    "ROLE_NAME": "Portal User Role",
    "FIRST_NAME": "Dilant",
    "LAST_NAME": "Patel",
    "EMAIL": "dilant.changed@qrvey.com",
    "LASTUPDATED": "2023-07-10T20:48:34.679Z"
    },
    {
    "ID": "1000103",
    "TENANT_ID": "1000",
    "USER_ID": "dilant@qrvey.com",
    "ACCOUNT_ID": "Qrvey101",
    "ACCOUNT_NAME": "Qrvey",
    "STATUS": "ACTIVE",
    "ROLE_NAME": "Portal Admin",
    "FIRST_NAME": "Dilant",
    "LAST_NAME": "Patel",
    "EMAIL": "dilant@qrvey.com",
    "LASTUPDATED": "2023-07-10T20:48:34.679Z"
    } 
  ]
}'
